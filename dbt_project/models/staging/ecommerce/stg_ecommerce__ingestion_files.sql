with

source as (

    select * from {{ source('ecommerce', 'ingestion_files') }}

),

final as (

    select
        delivery_id,
        source_file,
        status as delivery_status,
        reason as quarantine_reason,
        size_bytes,
        sha256,
        parts as part_count,
        rows_in,
        rows_loaded,
        rows_rejected,
        modified_at as file_modified_at,
        claimed_at,
        completed_at,
        status = 'quarantined' as is_quarantined
    from source

)

select * from final
