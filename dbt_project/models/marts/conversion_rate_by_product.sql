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
        sum(views) as views,
        sum(add_to_carts) as add_to_carts,
        sum(purchases) as purchases,
        sum(sessions_viewed) as sessions_viewed,
        sum(sessions_purchased_after_view) as sessions_purchased_after_view
    from product_daily
    group by product_id

),

final as (

    select
        products.product_id,
        products.product_name,
        products.category,
        totals.views::bigint as views,
        totals.add_to_carts::bigint as add_to_carts,
        totals.purchases::bigint as purchases,
        {{ safe_ratio('totals.add_to_carts', 'totals.views') }} as view_to_cart_rate,
        {{ safe_ratio('totals.purchases', 'totals.add_to_carts') }} as cart_to_purchase_rate,
        {{ safe_ratio('totals.purchases', 'totals.views') }} as view_to_purchase_rate,
        totals.sessions_viewed::bigint as sessions_viewed,
        totals.sessions_purchased_after_view::bigint as sessions_purchased_after_view,
        {{ safe_ratio('totals.sessions_purchased_after_view', 'totals.sessions_viewed') }}
            as session_conversion_rate
    from products
    inner join totals
        on products.product_id = totals.product_id

)

select * from final
