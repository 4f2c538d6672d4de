-- Products that turn views into purchases best: marts.top_converting_products ranks them
-- (its one definition, which the demo and the dashboard read too).
select
    conversion_rank,
    product_name,
    category,
    views,
    add_to_carts,
    purchases,
    view_to_cart_rate,
    cart_to_purchase_rate,
    view_to_purchase_rate,
    session_conversion_rate
from marts.top_converting_products
where conversion_rank <= 20
order by conversion_rank;
