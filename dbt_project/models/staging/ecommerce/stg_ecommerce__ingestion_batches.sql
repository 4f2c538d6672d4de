with

source as (

    select * from {{ source('ecommerce', 'ingestion_batches') }}

),

final as (

    select
        stream_name,
        query_id,
        batch_id,
        files as source_files,
        rows_in,
        rows_loaded,
        rows_rejected,
        started_at,
        committed_at,
        cardinality(files) as file_count,
        committed_at - started_at as commit_duration
    from source

)

select * from final
