-- fct_revenue_hourly per UTC hour against the staged events of that hour:
-- the hours of the events staged since reconcile_since() and the rows written
-- since then. Returns the rows that disagree, from either side.
{%- set since = reconcile_since() %}

with

mart as (

    select * from {{ ref('fct_revenue_hourly') }}

),

changed_hours as (

    select date_trunc('hour', event_at, 'UTC') as event_hour
    from {{ ref('stg_ecommerce__events') }}
    where staged_at >= {{ since }}

    union

    select event_hour from mart
    where staged_at >= {{ since }}

),

hour_events as (

    select * from {{ ref('stg_ecommerce__events') }}
    where event_date in (select {{ utc_date('changed_hours.event_hour') }} from changed_hours)

),

expected as (

    select
        date_trunc('hour', event_at, 'UTC') as event_hour,
        count(*) as events,
        count(*) filter (where event_type = 'purchase') as orders,
        coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units,
        coalesce(sum(unit_price * quantity) filter (where event_type = 'purchase'), 0) as revenue,
        max(event_at) as last_event_at
    from hour_events
    group by date_trunc('hour', event_at, 'UTC')
    having
        date_trunc('hour', event_at, 'UTC')
        in (select changed_hours.event_hour from changed_hours)

),

selected as (

    select * from mart
    where event_hour in (select changed_hours.event_hour from changed_hours)

),

final as (

    {{ disagreements(
        'expected', 'selected', ['event_hour'],
        ['events', 'orders', 'units', 'revenue', 'last_event_at']
    ) }}

)

select * from final
