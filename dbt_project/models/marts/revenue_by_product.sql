{#- Derived from fct_product_daily (products x days), not from the events. -#}
with

products as (

    select * from {{ ref('dim_products') }}

),

product_daily as (

    select * from {{ ref('fct_product_daily') }}

),

totals as (

    select
        product_id,
        sum(purchases) as orders,
        sum(units) as units,
        sum(revenue) as revenue,
        min(first_purchase_at) as first_purchase_at,
        max(last_purchase_at) as last_purchase_at
    from product_daily
    group by product_id

),

final as (

    select
        products.product_id,
        products.product_name,
        products.category,
        totals.orders::bigint as orders,
        totals.units::bigint as units,
        totals.revenue::numeric(18, 2) as revenue,
        {{ safe_ratio('totals.revenue', 'totals.units', scale=2) }} as avg_selling_price,
        totals.first_purchase_at,
        totals.last_purchase_at
    from products
    inner join totals
        on products.product_id = totals.product_id

)

select * from final
