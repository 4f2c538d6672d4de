{#-
    One row per UTC hour in which the stream committed a micro-batch: the
    ingestion rate and the share of quarantined rows, from the ledger. A
    table: the ledger has one row per micro-batch, not per event.
-#}
with

batches as (

    select * from {{ ref('stg_ecommerce__ingestion_batches') }}

),

final as (

    select
        date_trunc('hour', committed_at, 'UTC') as committed_hour,
        count(*)::bigint as batches,
        sum(file_count)::bigint as files,
        sum(rows_in)::bigint as rows_in,
        sum(rows_loaded)::bigint as rows_loaded,
        sum(rows_rejected)::bigint as rows_rejected,
        {{ safe_ratio('sum(rows_rejected)', 'sum(rows_in)') }} as rejected_share,
        round(
            avg(extract(epoch from commit_duration))::numeric, 3
        )::numeric(12, 3) as avg_batch_seconds,
        round(
            max(extract(epoch from commit_duration))::numeric, 3
        )::numeric(12, 3) as max_batch_seconds
    from batches
    group by date_trunc('hour', committed_at, 'UTC')

)

select * from final
