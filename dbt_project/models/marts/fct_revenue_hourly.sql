{#-
    One row per UTC hour with any staged event: orders, units and revenue of
    the hour. Incremental like the daily facts: only the hours of newly staged
    events (late ones included) are recomputed and replaced (delete+insert on
    event_hour), reading their days through the index on event_date.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_hour',
        indexes=[{'columns': ['event_hour'], 'unique': true}],
    )
}}

{%- if is_incremental() -%}
    {%- set since = watermark('staged_at') -%}
{%- endif %}

with

-- staging imported twice on purpose: PostgreSQL materializes a CTE read twice, whole
events as (

    select * from {{ ref('stg_ecommerce__events') }}

),

new_events as (

    select * from {{ ref('stg_ecommerce__events') }}
    {% if is_incremental() %}
        where staged_at > {{ since }}
    {% endif %}

),

touched_hours as (

    select distinct
        event_date,
        date_trunc('hour', event_at, 'UTC') as event_hour
    from new_events

),

hourly as (

    select
        touched_hours.event_hour,
        count(*) as events,
        count(*) filter (where events.event_type = 'purchase') as orders,
        coalesce(sum(events.quantity) filter (where events.event_type = 'purchase'), 0) as units,
        coalesce(
            sum(events.unit_price * events.quantity) filter (
                where events.event_type = 'purchase'
            ),
            0
        ) as revenue,
        max(events.staged_at) as staged_at
    from touched_hours
    inner join events
        on
            touched_hours.event_date = events.event_date
            and touched_hours.event_hour = date_trunc('hour', events.event_at, 'UTC')
    group by touched_hours.event_hour

),

final as (

    select
        event_hour,
        events::bigint as events,
        orders::bigint as orders,
        units::bigint as units,
        revenue::numeric(18, 2) as revenue,
        staged_at
    from hourly

)

select * from final
