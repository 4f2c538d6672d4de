-- fct_product_daily per product and UTC day against the staged events of
-- that day: the product-days an incremental run changes (of the events staged
-- since reconcile_since() and of their sessions) and the rows written since
-- then. The session pairs are int_session_products_aggregated's
-- (macros/days.sql), the plain definition the fact's additive run must
-- agree with. Returns the rows that
-- disagree, from either side.
{%- set since = reconcile_since() %}

with

{{ changed_days(since) }},

mart as (

    select * from {{ ref('fct_product_daily') }}

),

changed_keys as (

    select
        product_id,
        event_date
    from changed_events

    union

    select
        product_id,
        event_date
    from mart
    where staged_at >= {{ since }}

),

{{ day_and_session_events('changed_keys') }},

key_events as (

    select * from day_events
    where (product_id, event_date) in (
        select
            changed_keys.product_id,
            changed_keys.event_date
        from changed_keys
    )

),

product_days as (

    select
        product_id,
        event_date,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units,
        coalesce(sum(unit_price * quantity) filter (where event_type = 'purchase'), 0) as revenue,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        min(event_at) filter (where event_type = 'purchase') as first_purchase_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchase_at,
        -- the product as described by its last event of the day (ties: the largest event_id)
        (array_agg(product_name order by event_at desc, event_id desc))[1] as product_name,
        (array_agg(category order by event_at desc, event_id desc))[1] as category,
        (array_agg(unit_price order by event_at desc, event_id desc))[1] as unit_price
    from key_events
    group by product_id, event_date

),

pairs as (

    select
        product_id,
        first_viewed_date as event_date,
        count(*) as sessions_viewed,
        count(*) filter (where has_purchased_after_view) as sessions_purchased_after_view
    from ({{ session_products_aggregated('session_events') }}) as session_products
    where
        (product_id, first_viewed_date) in (
            select
                changed_keys.product_id,
                changed_keys.event_date
            from changed_keys
        )
    group by product_id, first_viewed_date

),

expected as (

    select
        product_days.*,
        coalesce(pairs.sessions_viewed, 0) as sessions_viewed,
        coalesce(pairs.sessions_purchased_after_view, 0) as sessions_purchased_after_view
    from product_days
    left join pairs
        on
            product_days.product_id = pairs.product_id
            and product_days.event_date = pairs.event_date

),

selected as (

    select * from mart
    where (product_id, event_date) in (
        select
            changed_keys.product_id,
            changed_keys.event_date
        from changed_keys
    )

),

final as (

    {{ disagreements(
        'expected', 'selected', ['product_id', 'event_date'],
        ['views', 'add_to_carts', 'purchases', 'units', 'revenue',
         'first_event_at', 'last_event_at', 'first_purchase_at', 'last_purchase_at',
         'product_name', 'category', 'unit_price',
         'sessions_viewed', 'sessions_purchased_after_view']
    ) }}

)

select * from final
