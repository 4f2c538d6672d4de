-- Every committed micro-batch accounts for each line it read: loaded or
-- quarantined, never lost. (The ledger's check constraint enforces the same
-- on write; this catches a ledger written some other way.)
with

batches as (

    select * from {{ source('ecommerce', 'ingestion_batches') }}

),

final as (

    select
        stream_name,
        query_id,
        batch_id,
        rows_in,
        rows_loaded,
        rows_rejected
    from batches
    where rows_in != rows_loaded + rows_rejected

)

select * from final
