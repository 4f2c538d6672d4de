{#-
    Incremental (append), like stg_ecommerce__events: the quarantined lines of
    the batches with rejects the ledger shows committed since the last run that
    staged some (staging_window()), each batch once. Kept here, not read from raw on every build, so that
    raw's old partitions can be dropped (ecom maintain) without a mart losing
    its history.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['staged_at']},
            {'columns': ['rejected_at']},
            {'columns': ['query_id', 'batch_id']},
        ],
    )
}}

{{ refuse_full_refresh_once_raw_is_trimmed() }}

{%- set xmin, cursor, since = (staging_window('rows_rejected > 0') | trim).split('|') -%}

with

source as (

    select rejects.*
    from {{ source('ecommerce', 'ecommerce_events_rejected') }} as rejects
    {% if cursor %}
        inner join {{ source('ecommerce', 'ingestion_batches') }} as new_batches
            on
                rejects.query_id = new_batches.query_id
                and rejects.batch_id = new_batches.batch_id
        where
            new_batches.xact_id >= {{ cursor }}
            and new_batches.rows_rejected > 0
            -- a constant the planner can estimate: partitions and the BRIN index
            and rejects.rejected_at
            >= {{ "'" ~ since ~ "'::timestamptz" if since else "'infinity'" }}
            -- a batch commits its rejects at once: one staged is all staged
            and not exists (
                select 1 from {{ this }} as staged
                where staged.query_id = rejects.query_id and staged.batch_id = rejects.batch_id
            )
    {% endif %}

),

final as (

    select
        source_file,
        line_number,
        batch_id,
        raw_line,
        reasons as rejection_reasons,
        rejected_at,
        cardinality(reasons) as rejection_reason_count,
        query_id,
        now() as staged_at,
        delivery_id,
        -- every loader transaction with a smaller id had finished when this
        -- run looked at the ledger: the next run starts from here
        {{ xmin if xmin else 'null' }}::bigint as staging_xmin
    from source

)

select * from final
