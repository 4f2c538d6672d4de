{#-
    One row per (session, product) the session had events for, from all the
    session's staged events. A view, like int_sessions_aggregated: no mart
    reads it. See dbt_project/README.md.
-#}
{{ config(materialized='view') }}

with

aggregated as (

    select
        session_id,
        product_id,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        min(event_at) filter (where event_type = 'view') as first_viewed_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchased_at,
        max(staged_at) as staged_at
    from {{ ref('stg_ecommerce__events') }}
    group by session_id, product_id

),

final as (

    select
        session_id,
        product_id,
        first_event_at,
        last_event_at,
        {{ utc_date('first_event_at') }} as first_event_date,
        {{ utc_date('last_event_at') }} as last_event_date,
        views,
        add_to_carts,
        purchases,
        first_viewed_at,
        {{ utc_date('first_viewed_at') }} as first_viewed_date,
        last_purchased_at,
        first_viewed_at is not null as has_viewed,
        coalesce(last_purchased_at >= first_viewed_at, false) as has_purchased_after_view,
        staged_at
    from aggregated

)

select * from final
