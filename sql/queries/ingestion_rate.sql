-- The stream per hour: batches, rows in / loaded / quarantined, and batch durations.
select
    committed_hour,
    batches,
    files,
    rows_in,
    rows_loaded,
    rows_rejected,
    rejected_share,
    avg_batch_seconds,
    max_batch_seconds
from marts.fct_ingestion_hourly
order by committed_hour desc
limit 48;
