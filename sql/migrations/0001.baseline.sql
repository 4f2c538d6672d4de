-- Migration 0001: the warehouse as first released (schemas, landing tables,
-- the batch ledger, the checkpoint history). Written with "if not exists" so a
-- warehouse built before migrations existed adopts it unchanged.
-- Schema changes go in a new numbered file here, never into an applied one.
-- raw.ecommerce_events' columns follow the event contract in pipeline/contract.py
-- (tests/unit/test_contract.py holds the migrations, in order, to it).

-- raw      landing zone written by the streaming job (append-only)
-- staging  dbt staging and intermediate models (owned by the transformer role)
-- marts    dbt marts that analysts and BI tools query
-- quality  one row per Great Expectations checkpoint run
create schema if not exists raw;
create schema if not exists staging;
create schema if not exists marts;
create schema if not exists quality;

-- One row per valid input row. Append-only: duplicates by event_id are kept
-- here on purpose and removed in dbt staging. No primary key and only one
-- cheap index: every index slows ingestion down.
create table if not exists raw.ecommerce_events (
    event_id uuid not null,
    event_type text not null,
    user_id bigint not null,
    user_name text not null,
    product_id bigint not null,
    product_name text not null,
    category text not null,
    price numeric(10,2) not null,
    quantity integer not null,
    event_time timestamptz not null,
    session_id text not null,
    source_file text not null,
    batch_id bigint not null,
    ingested_at timestamptz not null default now()
);

-- dbt's incremental filter reads "rows ingested since the last run"; rows
-- arrive in ingested_at order, which is what a BRIN index is for (tiny, and
-- nearly free to maintain on an append-only table).
create index if not exists ecommerce_events_ingested_at_brin
    on raw.ecommerce_events using brin (ingested_at);

-- Quarantine: input rows that broke the contract, kept verbatim with the
-- reasons (codes from pipeline/contract.py). Never repaired.
-- raw_line is the line as read; bytes that PostgreSQL text cannot hold (NUL,
-- invalid UTF-8) appear as U+FFFD, and the reasons say so.
create table if not exists raw.ecommerce_events_rejected (
    source_file text not null,
    line_number integer not null,
    raw_line text not null,
    reasons text[] not null,
    batch_id bigint not null,
    rejected_at timestamptz not null default now()
);

create index if not exists ecommerce_events_rejected_at_brin
    on raw.ecommerce_events_rejected using brin (rejected_at);

-- The exactly-once ledger: one row per committed micro-batch, written in the
-- same transaction as the batch's rows and rejects. A (query_id, batch_id)
-- already here is a replay and is skipped. query_id is Spark's id of the
-- streaming query, kept in its checkpoint: a new checkpoint starts batch ids
-- at 0 again, and must not be mistaken for a replay of the old one.
create table if not exists raw.ingestion_batches (
    stream_name text not null,
    query_id uuid not null,
    batch_id bigint not null,
    files text[] not null,
    rows_in bigint not null,
    rows_loaded bigint not null,
    rows_rejected bigint not null,
    started_at timestamptz not null,
    committed_at timestamptz not null default clock_timestamp(),
    primary key (query_id, batch_id),
    constraint ingestion_batches_rows_reconcile
        check (rows_in = rows_loaded + rows_rejected)
);

create table if not exists quality.checkpoint_runs (
    run_id bigint generated always as identity primary key,
    checkpoint_name text not null,
    success boolean not null,
    evaluated_expectations integer not null,
    successful_expectations integer not null,
    failed_expectations integer not null,
    run_at timestamptz not null,
    duration_seconds numeric(10,3) not null,
    -- one object per failed expectation: table, column, expectation_type, observed
    failures jsonb not null default '[]',
    constraint checkpoint_runs_counts_add_up
        check (evaluated_expectations = successful_expectations + failed_expectations),
    constraint checkpoint_runs_success_means_no_failure
        check (success = (failed_expectations = 0))
);

create index if not exists checkpoint_runs_checkpoint_run_at
    on quality.checkpoint_runs (checkpoint_name, run_at);
