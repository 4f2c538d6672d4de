{#-
    One row per product and UTC day with any event. Incremental, not the
    folder's table: a run recomputes only the days touched by newly staged
    events (see macro touched_days: every day spanned by a session x product
    pair that received new events, so late events update their own, older
    day and a pair whose first view moved is counted on its new day only)
    and replaces those days whole: delete+insert with unique_key event_date,
    one indexed key, instead of a composite (product_id, event_date) key.
    Rows come only from events the intermediate model has already processed
    (staged_at <= its newest staged_at), so a run of this model alone after
    new data never gets ahead of its inputs.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_date',
        indexes=[
            {'columns': ['event_date']},
            {'columns': ['staged_at']},
        ],
    )
}}

{%- if is_incremental() -%}
    {%- set horizon = watermark('staged_at', ref('int_session_products_aggregated')) -%}
    {%- set days = touched_days(ref('int_session_products_aggregated'), watermark('staged_at')) -%}
{%- endif %}

with

events as (

    select * from {{ ref('stg_ecommerce__events') }}
    {% if is_incremental() %}
        where event_date = any({{ days }}) and staged_at <= {{ horizon }}
    {% endif %}

),

session_products as (

    select * from {{ ref('int_session_products_aggregated') }}
    where
        has_viewed
        {% if is_incremental() %}
            and first_viewed_date = any({{ days }})
        {% endif %}

),

daily_events as (

    select
        product_id,
        event_date,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units,
        coalesce(
            sum(unit_price * quantity) filter (where event_type = 'purchase'), 0
        ) as revenue,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        min(event_at) filter (where event_type = 'purchase') as first_purchase_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchase_at,
        max(staged_at) as staged_at
    from events
    group by product_id, event_date

),

daily_attributes as (

    -- the product as described by its last event of the day (ties: the largest event_id)
    select distinct on (product_id, event_date)
        product_id,
        event_date,
        product_name,
        category,
        unit_price
    from events
    order by product_id asc, event_date asc, event_at desc, event_id desc

),

daily_sessions as (

    -- a session x product pair counts on the UTC day of its first view
    select
        product_id,
        first_viewed_date as event_date,
        count(*) as sessions_viewed,
        count(*) filter (where has_purchased_after_view) as sessions_purchased_after_view
    from session_products
    group by product_id, first_viewed_date

),

final as (

    select
        daily_events.product_id,
        daily_events.event_date,
        daily_attributes.product_name,
        daily_attributes.category,
        daily_attributes.unit_price,
        daily_events.views,
        daily_events.add_to_carts,
        daily_events.purchases,
        daily_events.units,
        daily_events.revenue::numeric(18, 2) as revenue,
        coalesce(daily_sessions.sessions_viewed, 0) as sessions_viewed,
        coalesce(
            daily_sessions.sessions_purchased_after_view, 0
        ) as sessions_purchased_after_view,
        daily_events.first_event_at,
        daily_events.last_event_at,
        daily_events.first_purchase_at,
        daily_events.last_purchase_at,
        daily_events.staged_at
    from daily_events
    inner join daily_attributes
        on
            daily_events.product_id = daily_attributes.product_id
            and daily_events.event_date = daily_attributes.event_date
    left join daily_sessions
        on
            daily_events.product_id = daily_sessions.product_id
            and daily_events.event_date = daily_sessions.event_date

)

select * from final
