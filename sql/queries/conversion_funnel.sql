-- The conversion funnel per UTC day: events, and sessions that went on to the next step.
select
    event_date,
    views,
    add_to_carts,
    purchases,
    revenue,
    sessions,
    sessions_viewed,
    sessions_carted,
    sessions_purchased,
    session_view_to_cart_rate,
    session_cart_to_purchase_rate,
    session_conversion_rate
from marts.fct_funnel_daily
order by event_date;
