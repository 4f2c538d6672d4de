-- fct_ingestion_hourly per UTC hour of commit against the batch ledger (a
-- table rebuilt whole by every run, from one ledger row per micro-batch).
-- The stream goes on committing after the run: the mart's newest hour, and
-- what came after it, are left to the next run. Returns the rows that
-- disagree, from either side.
with

mart as (

    select * from {{ ref('fct_ingestion_hourly') }}

),

horizon as (

    select max(committed_hour) as committed_hour from mart

),

expected as (

    select
        date_trunc('hour', committed_at, 'UTC') as committed_hour,
        count(*) as batches,
        sum(file_count) as files,
        sum(rows_in) as rows_in,
        sum(rows_loaded) as rows_loaded,
        sum(rows_rejected) as rows_rejected
    from {{ ref('stg_ecommerce__ingestion_batches') }}
    where committed_at < (select horizon.committed_hour from horizon)
    group by date_trunc('hour', committed_at, 'UTC')

),

selected as (

    select * from mart
    where committed_hour < (select horizon.committed_hour from horizon)

),

final as (

    {{ disagreements(
        'expected', 'selected', ['committed_hour'],
        ['batches', 'files', 'rows_in', 'rows_loaded', 'rows_rejected']
    ) }}

)

select * from final
