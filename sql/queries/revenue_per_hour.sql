-- Orders and revenue per UTC hour of event time, the last 48 hours that have events.
select
    event_hour,
    events,
    orders,
    units,
    revenue
from marts.fct_revenue_hourly
where event_hour > (select max(event_hour) from marts.fct_revenue_hourly) - interval '48 hours'
order by event_hour;
