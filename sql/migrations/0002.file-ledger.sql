-- Migration 0002: the file ledger (the job owns file identity). Rows and
-- rejects carry the delivery they came from; rows landed before this have none.
-- "if not exists": warehouses built by the idempotent DDL of that release have it.
-- depends: 0001.baseline

alter table raw.ecommerce_events add column if not exists delivery_id text;
alter table raw.ecommerce_events_rejected add column if not exists delivery_id text;

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
