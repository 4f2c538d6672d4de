-- Revenue by category, and the top products within each.
-- psql -f sql/queries/revenue_by_product_and_category.sql   (as ecom_analyst: make psql ROLE=analyst)
select
    category,
    sum(orders) as orders,
    sum(units) as units,
    sum(revenue) as revenue,
    round(100 * sum(revenue) / nullif(sum(sum(revenue)) over (), 0), 1) as revenue_share_pct
from marts.revenue_by_product
group by category
order by revenue desc;

select
    category,
    product_name,
    orders,
    units,
    revenue,
    avg_selling_price
from (
    select
        revenue_by_product.*,
        row_number() over (partition by category order by revenue desc, product_id) as rank_in_category
    from marts.revenue_by_product
) as ranked
where rank_in_category <= 3 and orders > 0
order by category, rank_in_category;
