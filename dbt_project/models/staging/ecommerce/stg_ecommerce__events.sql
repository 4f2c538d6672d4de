{#-
    Incremental (append): the rows of the batches the ledger shows committed
    since the last run read it (staging_window()), each event_id once, the
    first ingested copy winning; staged_at tells downstream models what is
    new. See dbt_project/README.md, step 1. The index on user_id is for
    dim_users' reconciliation (tests/reconcile), which reads a user's events.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['staged_at']},
            {'columns': ['session_id']},
            {'columns': ['event_date']},
        ],
        post_hook="{{ ensure_index(this, 'user_id') }}",
    )
}}

{{ refuse_full_refresh_once_raw_is_trimmed() }}

{%- set xmin, cursor, since = (staging_window() | trim).split('|') -%}

with

new_batches as (

    select
        query_id,
        batch_id
    from {{ source('ecommerce', 'ingestion_batches') }}
    {% if cursor %}
        where xact_id >= {{ cursor }}
    {% endif %}

),

source as (

    select events.*
    from {{ source('ecommerce', 'ecommerce_events') }} as events
    inner join new_batches
        on
            events.query_id = new_batches.query_id
            and events.batch_id = new_batches.batch_id
    {% if cursor %}
        -- a constant the planner can estimate: the BRIN index finds the rows
        where events.ingested_at >= {{ "'" ~ since ~ "'::timestamptz" if since else "'infinity'" }}
    {% endif %}

),

renamed as (

    select
        event_id,
        event_type,
        user_id,
        user_name,
        product_id,
        product_name,
        category,
        price as unit_price,
        quantity,
        event_time as event_at,
        {{ utc_date('event_time') }} as event_date,
        session_id,
        source_file,
        query_id,
        batch_id,
        ingested_at
    from source

),

deduplicated as (

    -- the first ingested copy of each event_id in this run's rows
    select distinct on (event_id) *
    from renamed
    order by event_id asc, ingested_at asc, batch_id asc, source_file asc

),

{% if is_incremental() %}

    already_staged as (

        select event_id from {{ this }}

    ),

{% endif %}

final as (

    select
        deduplicated.event_id,
        deduplicated.event_type,
        deduplicated.user_id,
        deduplicated.user_name,
        deduplicated.product_id,
        deduplicated.product_name,
        deduplicated.category,
        deduplicated.unit_price,
        deduplicated.quantity,
        deduplicated.event_at,
        deduplicated.event_date,
        deduplicated.session_id,
        deduplicated.source_file,
        deduplicated.query_id,
        deduplicated.batch_id,
        deduplicated.ingested_at,
        now() as staged_at,
        -- every loader transaction with a smaller id had finished when this
        -- run looked at the ledger: the next run starts from here
        {{ xmin if xmin else 'null' }}::bigint as staging_xmin
    from deduplicated
    {% if is_incremental() %}
        left join already_staged
            on deduplicated.event_id = already_staged.event_id
        where already_staged.event_id is null
    {% endif %}
    -- the table's physical order: a session's or a day's events sit together,
    -- which keeps the index range reads of the incremental models short
    order by deduplicated.event_at

)

select * from final
