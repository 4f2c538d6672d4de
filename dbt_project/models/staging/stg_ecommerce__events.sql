{#-
    Incremental (append), not the folder's view: deduplicating 5M events on
    every query would cost seconds, and every downstream model reads this.
    A run reads only rows ingested since the newest one already staged (minus
    a lookback, var staging_lookback_minutes), keeps the first ingested copy
    of each event_id, and anti-joins on event_id against the rows already
    here, so an event is staged once and the first copy wins. The unique
    index on event_id keeps that anti-join an index probe per new row and
    guarantees the rule; staged_at (one value per run) tells downstream
    models which rows are new.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['ingested_at']},
            {'columns': ['staged_at']},
            {'columns': ['session_id']},
            {'columns': ['event_date']},
        ],
    )
}}

with

source as (

    select * from {{ source('ecommerce', 'ecommerce_events') }}
    {% if is_incremental() %}
        where
            ingested_at
            > {{ watermark('ingested_at') }}
            - interval '{{ var("staging_lookback_minutes") }} minutes'
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
        deduplicated.batch_id,
        deduplicated.ingested_at,
        now() as staged_at
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
