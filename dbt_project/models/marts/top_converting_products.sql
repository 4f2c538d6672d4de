{#-
    The one definition of "best converting products": the demo's report, the dashboard
    and sql/queries/top_converting_products.sql read it. Among products viewed often
    enough for a rate to mean something (var ranking_min_views, lowered to the 90th
    percentile of views while the warehouse is young) and purchased at least once.
    A view: one ranking over conversion_rate_by_product's row per product, always current.
-#}
{{ config(materialized='view') }}

with

products as (

    select * from {{ ref('conversion_rate_by_product') }}

),

threshold as (

    select
        greatest(
            least(
                {{ var('ranking_min_views', 20) }},
                coalesce(percentile_disc(0.9) within group (order by views), 0)
            ),
            1
        )::bigint as min_views
    from products

),

ranked as (

    select
        products.product_id,
        products.product_name,
        products.category,
        products.views,
        products.add_to_carts,
        products.purchases,
        products.view_to_cart_rate,
        products.cart_to_purchase_rate,
        products.view_to_purchase_rate,
        products.session_conversion_rate,
        threshold.min_views,
        row_number() over (
            order by
                products.view_to_purchase_rate desc nulls last,
                products.views desc,
                products.product_id asc
        ) as conversion_rank
    from products
    cross join threshold
    where products.views >= threshold.min_views and products.purchases > 0

),

final as (

    select * from ranked

)

select * from final
