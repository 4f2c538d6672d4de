-- Landing tables. Idempotent. The column list of raw.ecommerce_events follows
-- the event contract in pipeline/contract.py (tests/unit/test_contract.py
-- holds the two together), plus lineage columns.

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

-- The delivery (raw.ingestion_files) a row came from. Added after the first
-- release: rows landed before it have none.
alter table raw.ecommerce_events add column if not exists delivery_id text;

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

alter table raw.ecommerce_events_rejected add column if not exists delivery_id text;

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

-- The file ledger: one row per delivery, i.e. per file the job took from the
-- inputs folder (a name delivered twice is two deliveries). The job claims a
-- complete file under its delivery_id, records its name exactly as given, its
-- size and SHA-256, then hands it to Spark in parts (a big file in several).
-- status: claimed (in flight), loaded (every part committed; the row counts
-- are the file's), quarantined (the file could not be read at all; reason
-- says why, the file is in the quarantine folder).
create table if not exists raw.ingestion_files (
    delivery_id text primary key,
    source_file text not null,
    size_bytes bigint not null,
    sha256 text,
    modified_at timestamptz,
    claimed_at timestamptz not null default clock_timestamp(),
    parts integer not null,
    status text not null,
    reason text,
    rows_in bigint,
    rows_loaded bigint,
    rows_rejected bigint,
    completed_at timestamptz,
    constraint ingestion_files_status
        check (status in ('claimed', 'loaded', 'quarantined')),
    constraint ingestion_files_rows_reconcile
        check (status <> 'loaded' or rows_in = rows_loaded + rows_rejected)
);

-- One row per committed part of a delivery, written in the same transaction
-- as the part's rows: a part already here is never loaded again, whatever
-- Spark's checkpoint says (a part is the unit of exactly-once for files).
create table if not exists raw.ingestion_file_parts (
    delivery_id text not null references raw.ingestion_files (delivery_id),
    part integer not null,
    query_id uuid not null,
    batch_id bigint not null,
    rows_in bigint not null,
    rows_loaded bigint not null,
    rows_rejected bigint not null,
    committed_at timestamptz not null default clock_timestamp(),
    primary key (delivery_id, part),
    constraint ingestion_file_parts_rows_reconcile
        check (rows_in = rows_loaded + rows_rejected)
);
