-- Migration 0003: rows name their batch exactly, and the batch ledger says
-- which transaction committed each batch, so dbt staging can take "the batches
-- committed since it last ran" from the ledger instead of a time lookback.
-- depends: 0002.file-ledger

-- The streaming query's id, next to batch_id: a new checkpoint starts batch ids
-- at 0 again, and two queries (single-line and multi-line) run side by side, so
-- batch_id alone does not name a batch.
alter table raw.ecommerce_events add column if not exists query_id uuid;
alter table raw.ecommerce_events_rejected add column if not exists query_id uuid;

-- Rows landed before this: their batch is the ledger row with the same
-- batch_id that lists their file (one pass over each table, done once).
update raw.ecommerce_events as events
set query_id = ledger.query_id
from (
    select query_id, batch_id, unnest(files) as source_file from raw.ingestion_batches
) as ledger
where events.batch_id = ledger.batch_id and events.source_file = ledger.source_file;

update raw.ecommerce_events_rejected as rejects
set query_id = ledger.query_id
from (
    select query_id, batch_id, unnest(files) as source_file from raw.ingestion_batches
) as ledger
where rejects.batch_id = ledger.batch_id and rejects.source_file = ledger.source_file;

-- Every new row has one (not validated against old rows without a ledger row).
alter table raw.ecommerce_events
    add constraint ecommerce_events_query_id_not_null check (query_id is not null) not valid;
alter table raw.ecommerce_events_rejected
    add constraint ecommerce_events_rejected_query_id_not_null
    check (query_id is not null) not valid;

-- The loader transaction that wrote the batch (its rows, rejects and this row):
-- xact_id its transaction id (pg_current_xact_id(), as bigint: xid8 is a type
-- SQLAlchemy and BI tools do not know), xact_started_at its start, which is the
-- rows' ingested_at (both are now() of that transaction). Staging records the
-- snapshot's xmin when it reads; a batch with a smaller xact_id had committed
-- (or rolled back) by then, however long it ran, so staging reads only the
-- batches with xact_id >= that xmin. Rows already here get this migration's
-- transaction id and their started_at.
alter table raw.ingestion_batches
    add column xact_id bigint not null default pg_current_xact_id()::text::bigint;
alter table raw.ingestion_batches add column xact_started_at timestamptz;
update raw.ingestion_batches set xact_started_at = started_at;
alter table raw.ingestion_batches
    alter column xact_started_at set default now(),
    alter column xact_started_at set not null;

create index ingestion_batches_xact_id on raw.ingestion_batches (xact_id);
