{#-
    One row per UTC day with any event: its event counts and the funnel of the
    sessions that started that day. Additive like fct_product_daily. See
    dbt_project/README.md.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_date',
        indexes=[{'columns': ['staged_at']}],
    )
}}

{%- set after = since() %}

{#- the columns that the parts of a day bring, with their neutral values -#}
{%- set day_columns = {
    'views': 0, 'add_to_carts': 0, 'purchases': 0, 'units': 0, 'revenue': 0, 'staged_at': 'null',
} %}
{%- set user_columns = {'active_users': 0} %}
{%- set session_columns = {
    'sessions': 0, 'sessions_viewed': 0, 'sessions_carted': 0, 'sessions_purchased': 0,
} %}

{#- what its input has processed: a run alone never gets ahead of it -#}
{%- set horizon = watermark('staged_at', ref('int_user_days_aggregated')) %}

with

{{ new_and_session_events(after, horizon) }},

new_days as (

    select
        event_date,
        {{ event_measures() }},
        max(staged_at) as staged_at
    from new_events
    group by event_date

),

-- a day's distinct users: the user-days first staged since the watermark
new_active_users as (

    select
        event_date,
        count(*) as active_users
    from {{ ref('int_user_days_aggregated') }}
    where
        staged_at > {{ after }}
        and first_staged_at > {{ after }}
        and first_staged_at <= {{ horizon }}
    group by event_date

),

session_deltas as (

    {{ session_deltas('session_events', after) }}

),

-- what the new events change: their days, users and the sessions' deltas
new_parts as (

    select
        event_date,
        {{ fold_columns(day_columns) }},
        {{ fold_columns(user_columns, neutral=true) }},
        {{ fold_columns(session_columns, neutral=true) }}
    from new_days

    union all

    select
        event_date,
        {{ fold_columns(day_columns, neutral=true) }},
        {{ fold_columns(user_columns) }},
        {{ fold_columns(session_columns, neutral=true) }}
    from new_active_users

    union all

    select
        event_date,
        {{ fold_columns(day_columns, neutral=true) }},
        {{ fold_columns(user_columns, neutral=true) }},
        {{ fold_columns(session_columns) }}
    from session_deltas

),

changes as (

    {{ new_and_known_rows(
        'new_parts', ['event_date'], [day_columns, user_columns, session_columns], after
    ) }}

),

final as (

    select
        event_date,
        sum(views)::bigint as views,
        sum(add_to_carts)::bigint as add_to_carts,
        sum(purchases)::bigint as purchases,
        sum(units)::bigint as units,
        sum(revenue)::numeric(18, 2) as revenue,
        sum(active_users)::bigint as active_users,
        sum(sessions)::bigint as sessions,
        sum(sessions_viewed)::bigint as sessions_viewed,
        sum(sessions_carted)::bigint as sessions_carted,
        sum(sessions_purchased)::bigint as sessions_purchased,
        {{ safe_ratio('sum(sessions_carted)', 'sum(sessions_viewed)') }}
            as session_view_to_cart_rate,
        {{ safe_ratio('sum(sessions_purchased)', 'sum(sessions_carted)') }}
            as session_cart_to_purchase_rate,
        {{ safe_ratio('sum(sessions_purchased)', 'sum(sessions_viewed)') }}
            as session_conversion_rate,
        max(staged_at) as staged_at
    from changes
    group by event_date

)

select * from final
