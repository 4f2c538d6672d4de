-- fct_funnel_daily per UTC day against the staged events of that day: the
-- days an incremental run changes (of the events staged since
-- reconcile_since() and of their sessions) and the rows written since then.
-- The sessions are int_sessions_aggregated's (macros/days.sql), counted on
-- the day of their first event. Returns the rows that disagree, from either side.
{%- set since = reconcile_since() %}

with

{{ changed_days(since) }},

mart as (

    select * from {{ ref('fct_funnel_daily') }}

),

checked_days as (

    select event_date from changed_days

    union

    select event_date from mart
    where staged_at >= {{ since }}

),

{{ day_and_session_events('checked_days') }},

days as (

    select
        event_date,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units,
        coalesce(sum(unit_price * quantity) filter (where event_type = 'purchase'), 0) as revenue,
        count(distinct user_id) as active_users
    from day_events
    group by event_date

),

sessions as (

    select
        first_event_date as event_date,
        count(*) as sessions,
        count(*) filter (where has_viewed) as sessions_viewed,
        count(*) filter (where has_carted_after_view) as sessions_carted,
        count(*) filter (where has_purchased_after_cart) as sessions_purchased
    from ({{ sessions_aggregated('session_events') }}) as session_steps
    where first_event_date in (select checked_days.event_date from checked_days)
    group by first_event_date

),

expected as (

    select
        days.*,
        coalesce(sessions.sessions, 0) as sessions,
        coalesce(sessions.sessions_viewed, 0) as sessions_viewed,
        coalesce(sessions.sessions_carted, 0) as sessions_carted,
        coalesce(sessions.sessions_purchased, 0) as sessions_purchased
    from days
    left join sessions
        on days.event_date = sessions.event_date

),

selected as (

    select * from mart
    where event_date in (select checked_days.event_date from checked_days)

),

final as (

    {{ disagreements(
        'expected', 'selected', ['event_date'],
        ['views', 'add_to_carts', 'purchases', 'units', 'revenue', 'active_users',
         'sessions', 'sessions_viewed', 'sessions_carted', 'sessions_purchased']
    ) }}

)

select * from final
