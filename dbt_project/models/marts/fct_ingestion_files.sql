{#-
    One row per delivered input file (a name delivered again is a new row),
    from the file ledger: its status, the reason when the whole file was
    quarantined, and its reconciliation, rows in = loaded + quarantined.
-#}
with

files as (

    select * from {{ ref('stg_ecommerce__ingestion_files') }}

),

numbered as (

    select
        *,
        row_number() over (
            partition by source_file order by claimed_at, delivery_id
        ) as delivery_number
    from files

),

final as (

    select
        delivery_id,
        source_file,
        delivery_number,
        delivery_status,
        quarantine_reason,
        size_bytes,
        sha256,
        part_count,
        rows_in,
        rows_loaded,
        rows_rejected,
        file_modified_at,
        claimed_at,
        completed_at,
        delivery_number > 1 as is_redelivery,
        is_quarantined,
        round(
            extract(epoch from completed_at - claimed_at)::numeric, 3
        )::numeric(12, 3) as load_seconds
    from numbered

)

select * from final
