{#-
    One row per product and UTC day with any event. Additive: a run folds the
    events staged since the newest staged_at here (up to what its inputs have
    processed) into the product-days they change, delete+insert on
    (product_id, event_date); the first build is the same with nothing known.
    See dbt_project/README.md.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['product_id', 'event_date'],
        indexes=[
            {'columns': ['event_date']},
            {'columns': ['staged_at']},
        ],
    )
}}

{%- set after = since() %}

{#- what its input has processed: a run alone never gets ahead of it -#}
{%- set horizon = watermark('staged_at', ref('int_product_days_described')) %}

with

{{ new_and_session_events(after, horizon) }},

new_product_days as (

    select
        product_id,
        event_date,
        {{ event_measures() }},
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        min(event_at) filter (where event_type = 'purchase') as first_purchase_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchase_at,
        max(staged_at) as staged_at
    from new_events
    group by product_id, event_date

),

session_deltas as (

    {{ session_product_deltas('session_events', after) }}

),

changes as (

    select
        product_id,
        event_date,
        views,
        add_to_carts,
        purchases,
        units,
        revenue,
        first_event_at,
        last_event_at,
        first_purchase_at,
        last_purchase_at,
        staged_at,
        0 as sessions_viewed,
        0 as sessions_purchased_after_view
    from new_product_days

    union all

    select
        product_id,
        event_date,
        0 as views,
        0 as add_to_carts,
        0 as purchases,
        0 as units,
        0 as revenue,
        null as first_event_at,
        null as last_event_at,
        null as first_purchase_at,
        null as last_purchase_at,
        null as staged_at,
        sessions_viewed,
        sessions_purchased_after_view
    from session_deltas

    {% if is_incremental() %}

        union all

        -- the rows already here that change (none after a rebuild of staging)
        select
            product_id,
            event_date,
            views,
            add_to_carts,
            purchases,
            units,
            revenue,
            first_event_at,
            last_event_at,
            first_purchase_at,
            last_purchase_at,
            staged_at,
            sessions_viewed,
            sessions_purchased_after_view
        from {{ this }}
        where
            {{ staging_kept(after) }}
            and (product_id, event_date) in (
                select
                    new_product_days.product_id,
                    new_product_days.event_date
                from new_product_days
                union
                select
                    session_deltas.product_id,
                    session_deltas.event_date
                from session_deltas
            )

    {% endif %}

),

merged as (

    select
        product_id,
        event_date,
        sum(views)::bigint as views,
        sum(add_to_carts)::bigint as add_to_carts,
        sum(purchases)::bigint as purchases,
        sum(units)::bigint as units,
        sum(revenue)::numeric(18, 2) as revenue,
        sum(sessions_viewed)::bigint as sessions_viewed,
        sum(sessions_purchased_after_view)::bigint as sessions_purchased_after_view,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        min(first_purchase_at) as first_purchase_at,
        max(last_purchase_at) as last_purchase_at,
        max(staged_at) as staged_at
    from changes
    group by product_id, event_date

),

final as (

    select
        merged.*,
        described.product_name,
        described.category,
        described.unit_price
    from merged
    -- the product as described by its last event of the day
    inner join {{ ref('int_product_days_described') }} as described
        on
            merged.product_id = described.product_id
            and merged.event_date = described.event_date

)

select * from final
