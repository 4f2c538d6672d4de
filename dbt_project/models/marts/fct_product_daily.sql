{#-
    One row per product and UTC day with any event. Additive: a run folds the
    newly staged events into the product-days they change; the first build is
    the same with nothing known. See dbt_project/README.md.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['product_id', 'event_date'],
        indexes=[{'columns': ['event_date']}, {'columns': ['staged_at']}],
    )
}}

{%- set after = since() %}

{#- the columns that the parts of a product-day bring, with their neutral values -#}
{%- set product_day_columns = {
    'views': 0, 'add_to_carts': 0, 'purchases': 0, 'units': 0, 'revenue': 0,
    'first_event_at': 'null', 'last_event_at': 'null',
    'first_purchase_at': 'null', 'last_purchase_at': 'null', 'staged_at': 'null',
} %}
{%- set pair_columns = {'sessions_viewed': 0, 'sessions_purchased_after_view': 0} %}

{#- what its input has processed: a run alone never gets ahead of it -#}
{%- set horizon = watermark('staged_at', ref('int_product_days_described')) %}

with

{{ new_and_session_events(after, horizon) }},

new_product_days as (

    select
        product_id,
        event_date,
        {{ event_measures() }},
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        min(event_at) filter (where event_type = 'purchase') as first_purchase_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchase_at,
        max(staged_at) as staged_at
    from new_events
    group by product_id, event_date

),

session_deltas as (

    {{ session_product_deltas('session_events', after) }}

),

-- what the new events change: their product-days and the pairs' deltas
new_parts as (

    select
        product_id,
        event_date,
        {{ fold_columns(product_day_columns) }},
        {{ fold_columns(pair_columns, neutral=true) }}
    from new_product_days

    union all

    select
        product_id,
        event_date,
        {{ fold_columns(product_day_columns, neutral=true) }},
        {{ fold_columns(pair_columns) }}
    from session_deltas

),

changes as (

    {{ new_and_known_rows(
        'new_parts', ['product_id', 'event_date'], [product_day_columns, pair_columns], after
    ) }}

),

merged as (

    select
        product_id,
        event_date,
        sum(views)::bigint as views,
        sum(add_to_carts)::bigint as add_to_carts,
        sum(purchases)::bigint as purchases,
        sum(units)::bigint as units,
        sum(revenue)::numeric(18, 2) as revenue,
        sum(sessions_viewed)::bigint as sessions_viewed,
        sum(sessions_purchased_after_view)::bigint as sessions_purchased_after_view,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        min(first_purchase_at) as first_purchase_at,
        max(last_purchase_at) as last_purchase_at,
        max(staged_at) as staged_at
    from changes
    group by product_id, event_date

),

final as (

    select
        merged.*,
        described.product_name,
        described.category,
        described.unit_price
    from merged
    -- the product as described by its last event of the day
    inner join {{ ref('int_product_days_described') }} as described
        on
            merged.product_id = described.product_id
            and merged.event_date = described.event_date

)

select * from final
