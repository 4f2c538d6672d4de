{#-
    One row per user and UTC day with at least one staged event: how many,
    and when the user-day was first staged (first_staged_at). A compact table
    (users x days, not events) from which fct_funnel_daily counts a day's
    distinct active users: the user-days first staged since its watermark are
    the users new to their day. Incremental and additive, like dim_users: a
    run folds the events staged since the newest staged_at here into the
    user-days they touch (counts add up, first_staged_at keeps the oldest);
    delete+insert on (user_id, event_date). After a rebuild of staging every
    event is new again and the user-days are recomputed from them alone.
-#}
{{
    config(
        unique_key=['user_id', 'event_date'],
        indexes=[
            {'columns': ['user_id', 'event_date'], 'unique': true},
            {'columns': ['staged_at']},
        ],
    )
}}

{%- set after = since() %}

with

events as (

    select * from {{ ref('stg_ecommerce__events') }}
    where staged_at > {{ after }}

),

new_user_days as (

    select
        user_id,
        event_date,
        count(*) as events,
        min(staged_at) as first_staged_at,
        max(staged_at) as staged_at
    from events
    group by user_id, event_date

),

changes as (

    {{ new_and_known_rows(
        'new_user_days', ['user_id', 'event_date'], [['events', 'first_staged_at', 'staged_at']],
        after
    ) }}

),

final as (

    select
        user_id,
        event_date,
        sum(events)::bigint as events,
        min(first_staged_at) as first_staged_at,
        max(staged_at) as staged_at
    from changes
    group by user_id, event_date

)

select * from final
