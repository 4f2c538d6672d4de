-- Products that turn views into purchases best (at least 20 views, so a rate means something).
select
    product_name,
    category,
    views,
    add_to_carts,
    purchases,
    view_to_cart_rate,
    cart_to_purchase_rate,
    view_to_purchase_rate,
    session_conversion_rate
from marts.conversion_rate_by_product
where views >= 20
order by view_to_purchase_rate desc nulls last, views desc, product_id
limit 20;
