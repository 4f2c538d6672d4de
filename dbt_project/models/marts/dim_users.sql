{#-
    Incremental, not the folder's table: users are folded in additively. A run
    aggregates only the events staged since the newest staged_at here (an
    exact watermark: each staged event is folded in exactly once) and merges
    them into the users' existing rows: counts add up, first/last seen take
    the min/max, and the name is the one of the latest event (ties: the
    greater name, so the result does not depend on how events were split
    between runs). delete+insert on the unique key user_id. If staging was
    rebuilt since the last run (its oldest staged_at is newer than the
    watermark), every event is new again: the users are then recomputed from
    them alone instead of being added to themselves.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='user_id',
        indexes=[{'columns': ['staged_at']}],
    )
}}

{%- set after = since() %}

with

events as (

    select * from {{ ref('stg_ecommerce__events') }}
    where staged_at > {{ after }}

),

new_users as (

    select
        user_id,
        -- the name on the latest event (ties: the greater name)
        (array_agg(user_name order by event_at desc, user_name desc))[1] as user_name,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        count(*) as events,
        count(*) filter (where event_type = 'purchase') as orders,
        coalesce(
            sum(unit_price * quantity) filter (where event_type = 'purchase'), 0
        ) as revenue,
        max(staged_at) as staged_at
    from events
    group by user_id

),

{% if is_incremental() %}

    merged as (

        select
            new_users.user_id,
            case
                when known_users.user_id is null then new_users.user_name
                when
                    (new_users.last_seen_at, new_users.user_name)
                    > (known_users.last_seen_at, known_users.user_name)
                    then new_users.user_name
                else known_users.user_name
            end as user_name,
            least(new_users.first_seen_at, known_users.first_seen_at) as first_seen_at,
            greatest(new_users.last_seen_at, known_users.last_seen_at) as last_seen_at,
            new_users.events + coalesce(known_users.events, 0) as events,
            new_users.orders + coalesce(known_users.orders, 0) as orders,
            new_users.revenue + coalesce(known_users.revenue, 0) as revenue,
            new_users.staged_at
        from new_users
        left join {{ this }} as known_users
            on
                new_users.user_id = known_users.user_id
                -- false after a rebuild of staging: start from scratch
                and {{ staging_kept(after) }}

    ),

{% else %}

    merged as (

        select * from new_users

    ),

{% endif %}

final as (

    select
        user_id,
        user_name,
        first_seen_at,
        last_seen_at,
        events,
        orders,
        revenue::numeric(18, 2) as revenue,
        staged_at
    from merged

)

select * from final
