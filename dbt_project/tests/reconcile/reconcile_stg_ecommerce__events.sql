-- stg_ecommerce__events per event against raw: each event staged since
-- reconcile_since() is, value for value, a row raw holds in the batch and file
-- it was staged from, and every row raw holds in those batches is staged (its
-- event_id, from this batch or an earlier one). Reads the rows of those batches
-- only (all of a batch's rows share its ingested_at: the BRIN index finds
-- them). Rows whose partition retention dropped are not compared. Returns
-- the rows that disagree: 'staged' not backed by raw, 'raw' not staged.
{%- set since = reconcile_since() %}

{%- set columns = [
    'event_id', 'event_type', 'user_id', 'user_name', 'product_id', 'product_name',
    'category', 'unit_price', 'quantity', 'event_at', 'session_id', 'source_file',
    'query_id', 'batch_id', 'ingested_at',
] %}

with

kept as (

    -- raw holds the rows ingested from here on
    select coalesce(max(range_to), '-infinity') as ingested_from
    from raw.partitions_dropped

),

staged as (

    select * from {{ ref('stg_ecommerce__events') }}
    where
        staged_at >= {{ since }}
        and ingested_at >= (select kept.ingested_from from kept)

),

window_batches as (

    select distinct
        query_id,
        batch_id,
        ingested_at
    from staged

),

landed as (

    select
        events.event_id,
        events.event_type,
        events.user_id,
        events.user_name,
        events.product_id,
        events.product_name,
        events.category,
        events.price as unit_price,
        events.quantity,
        events.event_time as event_at,
        events.session_id,
        events.source_file,
        events.query_id,
        events.batch_id,
        events.ingested_at
    from {{ source('ecommerce', 'ecommerce_events') }} as events
    where
        events.ingested_at >= (
            select min(window_batches.ingested_at) as ingested_from from window_batches
        )
        and (events.query_id, events.batch_id) in (
            select
                window_batches.query_id,
                window_batches.batch_id
            from window_batches
        )

),

not_landed as (

    select
        {{ columns | join(',\n        ') }}
    from staged

    except

    select
        {{ columns | join(',\n        ') }}
    from landed

),

not_staged as (

    select landed.*
    from landed
    where not exists (
        select from {{ ref('stg_ecommerce__events') }} as events
        where events.event_id = landed.event_id
    )

),

final as (

    select
        'staged' as side,
        not_landed.*
    from not_landed

    union all

    select
        'raw' as side,
        not_staged.*
    from not_staged

)

select * from final
