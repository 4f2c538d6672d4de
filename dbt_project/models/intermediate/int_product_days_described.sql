{#-
    One row per product and UTC day with at least one staged event: the
    product as described by its last event of that day (greatest event_at,
    ties broken by the largest event_id), with that event's key. Keeping the
    key lets a run fold new events in without reading the day again: a run
    takes the last of the events staged since the newest staged_at here per
    product-day and keeps, per product-day, the later of it and the stored
    one (delete+insert on (product_id, event_date)). Taking the later of two
    is idempotent, so a rebuild of staging (every event new again) needs no
    special case. fct_product_daily reads its product columns from here.
-#}
{{
    config(
        unique_key=['product_id', 'event_date'],
        indexes=[
            {'columns': ['product_id', 'event_date'], 'unique': true},
            {'columns': ['staged_at']},
        ],
    )
}}

{%- set after = since() %}

with

events as (

    select * from {{ ref('stg_ecommerce__events') }}
    where staged_at > {{ after }}

),

new_last_events as (

    select distinct on (product_id, event_date)
        product_id,
        event_date,
        event_at as last_event_at,
        event_id as last_event_id,
        product_name,
        category,
        unit_price,
        max(staged_at) over (partition by product_id, event_date) as staged_at
    from events
    order by product_id asc, event_date asc, event_at desc, event_id desc

),

{% if is_incremental() %}

    candidates as (

        select * from new_last_events

        union all

        select
            known_days.product_id,
            known_days.event_date,
            known_days.last_event_at,
            known_days.last_event_id,
            known_days.product_name,
            known_days.category,
            known_days.unit_price,
            known_days.staged_at
        from {{ this }} as known_days
        where
            (known_days.product_id, known_days.event_date) in (
                select
                    new_last_events.product_id,
                    new_last_events.event_date
                from new_last_events
            )

    ),

    described as (

        -- the later of the stored last event and the new one
        select distinct on (product_id, event_date)
            product_id,
            event_date,
            last_event_at,
            last_event_id,
            product_name,
            category,
            unit_price,
            max(staged_at) over (partition by product_id, event_date) as staged_at
        from candidates
        order by product_id asc, event_date asc, last_event_at desc, last_event_id desc

    ),

{% else %}

    described as (

        select * from new_last_events

    ),

{% endif %}

final as (

    select
        product_id,
        event_date,
        last_event_at,
        last_event_id,
        product_name,
        category,
        unit_price,
        staged_at
    from described

)

select * from final
