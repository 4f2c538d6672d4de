{#-
    Built from fct_product_daily, whose rows carry the product as described by
    the last event of each day: the latest description is then the one of the
    last day, and the cost is products x days instead of all events.
-#}
with

-- two imports of the same model, each read once (a CTE read twice is
-- materialized whole)
product_days as (

    select * from {{ ref('fct_product_daily') }}

),

last_days as (

    select * from {{ ref('fct_product_daily') }}

),

spans as (

    select
        product_id,
        min(first_event_at) as first_seen_at,
        max(last_event_at) as last_seen_at,
        max(event_date) as last_event_date
    from product_days
    group by product_id

),

final as (

    -- the product as described on its last day (one row: the primary key)
    select
        spans.product_id,
        last_days.product_name,
        last_days.category,
        last_days.unit_price,
        spans.first_seen_at,
        spans.last_seen_at
    from spans
    inner join last_days
        on
            spans.product_id = last_days.product_id
            and spans.last_event_date = last_days.event_date

)

select * from final
