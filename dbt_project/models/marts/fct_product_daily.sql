{#-
    One row per product and UTC day with any event. Incremental, not the
    folder's table, and additive like fct_revenue_hourly: a run costs the new
    events and the sessions they belong to, not the day (at 5,000 events/s a
    day holds 432M). It reads the events staged since the newest staged_at
    here, up to the newest one its inputs have processed (so a run of this
    model alone never gets ahead of them), and rewrites only the product-days
    whose figures change (delete+insert on (product_id, event_date)):
    - event counts, units and revenue add up; first/last times take min/max;
    - product_name, category and unit_price are those of the day's last event
      (ties: the largest event_id), kept with that event's key in
      int_product_days_described;
    - a session x product pair counts on the UTC day of its first view, and
      whether it purchased after that view can change with any later event,
      so the pairs of the sessions with new events are recomputed from all
      their staged events: each pair's new contribution goes in and the one
      it had from the events already counted (staged_at up to the watermark)
      comes out. A late view can so move a pair to an earlier day.
    If staging was rebuilt since the last run (its oldest staged_at is newer
    than the watermark), every event is new again: the rows are recomputed
    from them alone instead of being added to themselves.
    A full refresh counts the pairs from int_session_products_aggregated.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['product_id', 'event_date'],
        indexes=[
            {'columns': ['event_date']},
            {'columns': ['staged_at']},
        ],
    )
}}

{%- if is_incremental() -%}
    {%- set since = watermark('staged_at') -%}
    {%- set horizon -%}
        least(
            {{ watermark('staged_at', ref('int_session_products_aggregated')) }},
            {{ watermark('staged_at', ref('int_product_days_described')) }}
        )
    {%- endset -%}
    {%- set staging_kept = watermark('staged_at', ref('stg_ecommerce__events'), 'min')
        ~ ' <= ' ~ since -%}
{%- endif %}

with

{% if is_incremental() %}

    new_events as (

        select * from {{ ref('stg_ecommerce__events') }}
        where staged_at > {{ since }} and staged_at <= {{ horizon }}

    ),

    -- a second import: all staged events (up to the horizon) of the sessions
    -- with new events, through the index on session_id
    session_events as (

        select * from {{ ref('stg_ecommerce__events') }}
        where
            session_id in (select new_events.session_id from new_events)
            and staged_at <= {{ horizon }}

    ),

{% else %}

    events as (

        select * from {{ ref('stg_ecommerce__events') }}

    ),

    session_products as (

        select * from {{ ref('int_session_products_aggregated') }}
        where has_viewed

    ),

{% endif %}

described as (

    select * from {{ ref('int_product_days_described') }}

),

{% if is_incremental() %}

    new_product_days as (

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
        from new_events
        group by product_id, event_date

    ),

    pairs as (

        -- each pair now, and as already counted (its events staged up to the
        -- watermark): the definitions of int_session_products_aggregated
        select
            product_id,
            min(event_at) filter (where event_type = 'view') as first_viewed_at,
            max(event_at) filter (where event_type = 'purchase') as last_purchased_at,
            min(event_at) filter (
                where event_type = 'view' and staged_at <= {{ since }}
            ) as counted_first_viewed_at,
            max(event_at) filter (
                where event_type = 'purchase' and staged_at <= {{ since }}
            ) as counted_last_purchased_at
        from session_events
        group by session_id, product_id

    ),

    pair_changes as (

        -- a pair counts on the UTC day of its first view: new contribution in
        select
            product_id,
            {{ utc_date('first_viewed_at') }} as event_date,
            1 as sessions_viewed,
            case when last_purchased_at >= first_viewed_at then 1 else 0 end
                as sessions_purchased_after_view
        from pairs
        where first_viewed_at is not null

        union all

        -- old contribution out
        select
            product_id,
            {{ utc_date('counted_first_viewed_at') }} as event_date,
            -1 as sessions_viewed,
            case when counted_last_purchased_at >= counted_first_viewed_at then -1 else 0 end
                as sessions_purchased_after_view
        from pairs
        where counted_first_viewed_at is not null

    ),

    session_deltas as (

        select
            product_id,
            event_date,
            sum(sessions_viewed) as sessions_viewed,
            sum(sessions_purchased_after_view) as sessions_purchased_after_view
        from pair_changes
        group by product_id, event_date
        having sum(sessions_viewed) != 0 or sum(sessions_purchased_after_view) != 0

    ),

    changed_days as (

        select
            product_id,
            event_date
        from new_product_days

        union

        select
            product_id,
            event_date
        from session_deltas

    ),

    merged as (

        select
            changed_days.product_id,
            changed_days.event_date,
            coalesce(new_product_days.views, 0)
            + coalesce(known_days.views, 0) as views,
            coalesce(new_product_days.add_to_carts, 0)
            + coalesce(known_days.add_to_carts, 0) as add_to_carts,
            coalesce(new_product_days.purchases, 0)
            + coalesce(known_days.purchases, 0) as purchases,
            coalesce(new_product_days.units, 0)
            + coalesce(known_days.units, 0) as units,
            coalesce(new_product_days.revenue, 0)
            + coalesce(known_days.revenue, 0) as revenue,
            coalesce(session_deltas.sessions_viewed, 0)
            + coalesce(known_days.sessions_viewed, 0) as sessions_viewed,
            coalesce(session_deltas.sessions_purchased_after_view, 0)
            + coalesce(known_days.sessions_purchased_after_view, 0)
                as sessions_purchased_after_view,
            -- least and greatest ignore nulls
            least(new_product_days.first_event_at, known_days.first_event_at) as first_event_at,
            greatest(new_product_days.last_event_at, known_days.last_event_at) as last_event_at,
            least(
                new_product_days.first_purchase_at, known_days.first_purchase_at
            ) as first_purchase_at,
            greatest(
                new_product_days.last_purchase_at, known_days.last_purchase_at
            ) as last_purchase_at,
            greatest(new_product_days.staged_at, known_days.staged_at) as staged_at
        from changed_days
        left join new_product_days
            on
                changed_days.product_id = new_product_days.product_id
                and changed_days.event_date = new_product_days.event_date
        left join session_deltas
            on
                changed_days.product_id = session_deltas.product_id
                and changed_days.event_date = session_deltas.event_date
        left join {{ this }} as known_days
            on
                changed_days.product_id = known_days.product_id
                and changed_days.event_date = known_days.event_date
                -- false after a rebuild of staging: start from scratch
                and {{ staging_kept }}

    ),

{% else %}

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

    merged as (

        select
            daily_events.product_id,
            daily_events.event_date,
            daily_events.views,
            daily_events.add_to_carts,
            daily_events.purchases,
            daily_events.units,
            daily_events.revenue,
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
        left join daily_sessions
            on
                daily_events.product_id = daily_sessions.product_id
                and daily_events.event_date = daily_sessions.event_date

    ),

{% endif %}

final as (

    select
        merged.product_id,
        merged.event_date,
        described.product_name,
        described.category,
        described.unit_price,
        merged.views::bigint as views,
        merged.add_to_carts::bigint as add_to_carts,
        merged.purchases::bigint as purchases,
        merged.units::bigint as units,
        merged.revenue::numeric(18, 2) as revenue,
        merged.sessions_viewed::bigint as sessions_viewed,
        merged.sessions_purchased_after_view::bigint as sessions_purchased_after_view,
        merged.first_event_at,
        merged.last_event_at,
        merged.first_purchase_at,
        merged.last_purchase_at,
        merged.staged_at
    from merged
    -- the product as described by its last event of the day
    inner join described
        on
            merged.product_id = described.product_id
            and merged.event_date = described.event_date

)

select * from final
