-- Total revenue (to the cent) and the number of purchases in every mart that
-- reports them agree exactly with the staged events. Returns one row per
-- mart that disagrees.
with

staged as (

    select
        count(*) filter (where event_type = 'purchase') as purchases,
        coalesce(
            sum(unit_price * quantity) filter (where event_type = 'purchase'), 0
        ) as revenue
    from {{ ref('stg_ecommerce__events') }}

),

marts as (

    select
        'revenue_by_product' as mart,
        coalesce(sum(orders), 0) as purchases,
        coalesce(sum(revenue), 0) as revenue
    from {{ ref('revenue_by_product') }}

    union all

    select
        'fct_product_daily' as mart,
        coalesce(sum(purchases), 0) as purchases,
        coalesce(sum(revenue), 0) as revenue
    from {{ ref('fct_product_daily') }}

    union all

    select
        'fct_funnel_daily' as mart,
        coalesce(sum(purchases), 0) as purchases,
        coalesce(sum(revenue), 0) as revenue
    from {{ ref('fct_funnel_daily') }}

    union all

    select
        'dim_users' as mart,
        coalesce(sum(orders), 0) as purchases,
        coalesce(sum(revenue), 0) as revenue
    from {{ ref('dim_users') }}

),

final as (

    select
        marts.mart,
        marts.purchases as mart_purchases,
        staged.purchases as staged_purchases,
        marts.revenue as mart_revenue,
        staged.revenue as staged_revenue
    from marts
    cross join staged
    where
        marts.purchases != staged.purchases
        or marts.revenue != staged.revenue

)

select * from final
