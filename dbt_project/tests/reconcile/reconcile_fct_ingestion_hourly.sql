-- depends_on: {{ ref('stg_ecommerce__events') }}
-- fct_ingestion_hourly per UTC hour of commit against the batch ledger (a
-- table rebuilt whole by every run, from one ledger row per micro-batch).
-- The stream goes on committing during and after the run: the hours before
-- the first batch the run may not have seen (ledger_horizon()) are compared,
-- every hour when there is none. Returns the rows that disagree, from either
-- side.
with

unseen as (

    select coalesce(min(committed_at), 'infinity') as committed_at
    from {{ source('ecommerce', 'ingestion_batches') }}
    where xact_id >= {{ ledger_horizon() }}

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
    where
        committed_at
        < (select date_trunc('hour', unseen.committed_at, 'UTC') as committed_hour from unseen)
    group by date_trunc('hour', committed_at, 'UTC')

),

selected as (

    select * from {{ ref('fct_ingestion_hourly') }}
    where
        committed_hour
        < (select date_trunc('hour', unseen.committed_at, 'UTC') as committed_hour from unseen)

),

final as (

    {{ disagreements(
        'expected', 'selected', ['committed_hour'],
        ['batches', 'files', 'rows_in', 'rows_loaded', 'rows_rejected']
    ) }}

)

select * from final
