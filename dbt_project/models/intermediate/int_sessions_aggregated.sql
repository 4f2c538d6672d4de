{#-
    One row per session, from all its staged events. A view: no mart reads
    it (the daily facts count sessions themselves, macros/days.sql), so it
    costs nothing until somebody queries it. See dbt_project/README.md.
-#}
{{ config(materialized='view') }}

with

events as (

    select
        *,
        min(event_at) filter (where event_type = 'view')
            over (partition by session_id) as session_viewed_at
    from {{ ref('stg_ecommerce__events') }}

),

aggregated as (

    select
        session_id,
        -- the user of the session's first event (ties: the smallest event_id)
        (array_agg(user_id order by event_at asc, event_id asc))[1] as user_id,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        count(*) as events,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        min(event_at) filter (where event_type = 'view') as first_viewed_at,
        min(event_at) filter (
            where event_type = 'add_to_cart' and event_at >= session_viewed_at
        ) as first_carted_after_view_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchased_at,
        max(staged_at) as staged_at
    from events
    group by session_id

),

final as (

    select
        session_id,
        user_id,
        first_event_at,
        last_event_at,
        {{ utc_date('first_event_at') }} as first_event_date,
        {{ utc_date('last_event_at') }} as last_event_date,
        events,
        views,
        add_to_carts,
        purchases,
        first_viewed_at,
        first_carted_after_view_at,
        last_purchased_at,
        first_viewed_at is not null as has_viewed,
        first_carted_after_view_at is not null as has_carted_after_view,
        coalesce(
            last_purchased_at >= first_carted_after_view_at, false
        ) as has_purchased_after_cart,
        staged_at
    from aggregated

)

select * from final
