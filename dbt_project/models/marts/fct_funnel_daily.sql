{#-
    One row per UTC day with any event: event counts of the day and the
    session funnel of the sessions that started that day. Incremental, not
    the folder's table, for the same reason and in the same way as
    fct_product_daily: only the days spanned by sessions that received new
    events are recomputed (delete+insert, unique_key event_date).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_date',
        indexes=[{'columns': ['staged_at']}],
    )
}}

{%- if is_incremental() -%}
    {%- set horizon = watermark('staged_at', ref('int_sessions_aggregated')) -%}
    {%- set days = touched_days(ref('int_sessions_aggregated'), watermark('staged_at')) -%}
{%- endif %}

with

events as (

    select * from {{ ref('stg_ecommerce__events') }}
    {% if is_incremental() %}
        where event_date = any({{ days }}) and staged_at <= {{ horizon }}
    {% endif %}

),

sessions as (

    select * from {{ ref('int_sessions_aggregated') }}
    {% if is_incremental() %}
        where first_event_date = any({{ days }})
    {% endif %}

),

daily_events as (

    select
        event_date,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units,
        coalesce(
            sum(unit_price * quantity) filter (where event_type = 'purchase'), 0
        ) as revenue,
        count(distinct user_id) as active_users,
        max(staged_at) as staged_at
    from events
    group by event_date

),

daily_sessions as (

    -- a session counts on the UTC day of its first event
    select
        first_event_date as event_date,
        count(*) as sessions,
        count(*) filter (where has_viewed) as sessions_viewed,
        count(*) filter (where has_carted_after_view) as sessions_carted,
        count(*) filter (where has_purchased_after_cart) as sessions_purchased
    from sessions
    group by first_event_date

),

final as (

    select
        daily_events.event_date,
        daily_events.views,
        daily_events.add_to_carts,
        daily_events.purchases,
        daily_events.units,
        daily_events.revenue::numeric(18, 2) as revenue,
        daily_events.active_users,
        coalesce(daily_sessions.sessions, 0) as sessions,
        coalesce(daily_sessions.sessions_viewed, 0) as sessions_viewed,
        coalesce(daily_sessions.sessions_carted, 0) as sessions_carted,
        coalesce(daily_sessions.sessions_purchased, 0) as sessions_purchased,
        {{ safe_ratio('daily_sessions.sessions_carted', 'daily_sessions.sessions_viewed') }}
            as session_view_to_cart_rate,
        {{ safe_ratio('daily_sessions.sessions_purchased', 'daily_sessions.sessions_carted') }}
            as session_cart_to_purchase_rate,
        {{ safe_ratio('daily_sessions.sessions_purchased', 'daily_sessions.sessions_viewed') }}
            as session_conversion_rate,
        daily_events.staged_at
    from daily_events
    left join daily_sessions
        on daily_events.event_date = daily_sessions.event_date

)

select * from final
