-- revenue_by_product, conversion_rate_by_product and dim_products per product
-- against fct_product_daily, which they are built from (tables rebuilt whole
-- by every run: the check reads product-days, not events; fct_product_daily's
-- own test ties it to the staged events). Returns the rows that disagree,
-- from either side, with the mart they belong to and their compared columns.
with

product_days as (

    select * from {{ ref('fct_product_daily') }}

),

last_days as (

    -- each product's last day, whose description the dimension carries
    select distinct on (product_id)
        product_id,
        product_name,
        category,
        unit_price
    from product_days
    order by product_id asc, event_date desc

),

totals as (

    select
        product_id,
        sum(purchases) as orders,
        sum(units) as units,
        sum(revenue) as revenue,
        min(first_purchase_at) as first_purchase_at,
        max(last_purchase_at) as last_purchase_at,
        sum(views) as views,
        sum(add_to_carts) as add_to_carts,
        sum(purchases) as purchases,
        sum(sessions_viewed) as sessions_viewed,
        sum(sessions_purchased_after_view) as sessions_purchased_after_view,
        min(first_event_at) as first_seen_at,
        max(last_event_at) as last_seen_at
    from product_days
    group by product_id

),

expected as (

    select
        totals.*,
        last_days.product_name,
        last_days.category,
        last_days.unit_price
    from totals
    inner join last_days
        on totals.product_id = last_days.product_id

),

revenue as (

    {{ disagreements(
        'expected', ref('revenue_by_product'), ['product_id'],
        ['product_name', 'category', 'orders', 'units', 'revenue',
         'first_purchase_at', 'last_purchase_at']
    ) }}

),

conversion as (

    {{ disagreements(
        'expected', ref('conversion_rate_by_product'), ['product_id'],
        ['product_name', 'category', 'views', 'add_to_carts', 'purchases',
         'sessions_viewed', 'sessions_purchased_after_view']
    ) }}

),

dimension as (

    {{ disagreements(
        'expected', ref('dim_products'), ['product_id'],
        ['product_name', 'category', 'unit_price', 'first_seen_at', 'last_seen_at']
    ) }}

),

final as (

    select
        'revenue_by_product' as mart,
        revenue.side,
        revenue.product_id,
        to_jsonb(revenue.*) as compared
    from revenue
    union all
    select
        'conversion_rate_by_product' as mart,
        conversion.side,
        conversion.product_id,
        to_jsonb(conversion.*) as compared
    from conversion
    union all
    select
        'dim_products' as mart,
        dimension.side,
        dimension.product_id,
        to_jsonb(dimension.*) as compared
    from dimension

)

select * from final
