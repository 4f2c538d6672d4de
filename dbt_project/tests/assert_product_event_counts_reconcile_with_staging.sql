-- Per product, the view, add-to-cart and purchase counts and the revenue of
-- the product marts equal those of the staged events. Returns one row per
-- product that disagrees (or is missing on one side).
with

staged as (

    select
        product_id,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        coalesce(
            sum(unit_price * quantity) filter (where event_type = 'purchase'), 0
        ) as revenue
    from {{ ref('stg_ecommerce__events') }}
    group by product_id

),

conversion as (

    select * from {{ ref('conversion_rate_by_product') }}

),

revenue as (

    select * from {{ ref('revenue_by_product') }}

),

final as (

    select
        coalesce(staged.product_id, conversion.product_id, revenue.product_id) as product_id,
        staged.views as staged_views,
        conversion.views as mart_views,
        staged.add_to_carts as staged_add_to_carts,
        conversion.add_to_carts as mart_add_to_carts,
        staged.purchases as staged_purchases,
        conversion.purchases as mart_purchases,
        revenue.orders as mart_orders,
        staged.revenue as staged_revenue,
        revenue.revenue as mart_revenue
    from staged
    full outer join conversion
        on staged.product_id = conversion.product_id
    full outer join revenue
        on coalesce(staged.product_id, conversion.product_id) = revenue.product_id
    where
        staged.views is distinct from conversion.views
        or staged.add_to_carts is distinct from conversion.add_to_carts
        or staged.purchases is distinct from conversion.purchases
        or staged.purchases is distinct from revenue.orders
        or staged.revenue is distinct from revenue.revenue

)

select * from final
