-- Migration 0006: the raw_layer checkpoint checks what committed since its last
-- passed run, not the whole history.
--
-- A run checks a window of loader transactions, [from_xmin, to_xmin) on the
-- ledger's xact_id: to_xmin is the xmin of a snapshot the run takes as it starts
-- (every transaction with a smaller id had finished by then, so no batch can
-- join the window later), from_xmin the to_xmin of the last passed run. Windows
-- follow each other without a gap or an overlap; a failed run does not move
-- from_xmin, so what failed is checked again until it passes. The runner
-- (expectations/runner.py) sets the window on GX's connections as three
-- settings, ecom.raw_check_from_xmin, ecom.raw_check_to_xmin and
-- ecom.raw_check_since (the oldest xact_started_at in the window: a constant
-- bound on the rows' ingested_at, so PostgreSQL skips older partitions and
-- block ranges). GX validates the views below instead of the tables. Unset,
-- the window is everything committed: a session that sets nothing (psql, BI,
-- a --full run) sees every row.
-- depends: 0005.raw-partitioned-by-ingestion-time

-- The file ledger says which transaction wrote each row last, as the batch
-- ledger does: the loader inserts a row when it claims a file and updates it
-- when the file's last part commits (or by hand, which is then checked again).
alter table raw.ingestion_files
    add column xact_id bigint not null default pg_current_xact_id()::text::bigint;
create index ingestion_files_xact_id on raw.ingestion_files (xact_id);

create function raw.stamp_xact_id() returns trigger
language plpgsql
as $$
begin
    new.xact_id := pg_current_xact_id()::text::bigint;
    return new;
end
$$;

create trigger ingestion_files_stamp_xact_id
before update on raw.ingestion_files
for each row execute function raw.stamp_xact_id();

-- A window's parts by their batch.
create index ingestion_file_parts_batch on raw.ingestion_file_parts (query_id, batch_id);

-- The window, from the session's settings. Plain SQL functions that PostgreSQL
-- inlines: a stable expression, which it evaluates to plan (estimates, index
-- ranges) and to skip partitions as the statement starts.
create function quality.raw_check_from_xmin() returns bigint
language sql stable parallel safe
as $$
    select coalesce(nullif(current_setting('ecom.raw_check_from_xmin', true), '')::bigint, 0)
$$;

create function quality.raw_check_to_xmin() returns bigint
language sql stable parallel safe
as $$
    select coalesce(
        nullif(current_setting('ecom.raw_check_to_xmin', true), '')::bigint,
        pg_snapshot_xmin(pg_current_snapshot())::text::bigint
    )
$$;

create function quality.raw_check_since() returns timestamptz
language sql stable parallel safe
as $$
    select coalesce(
        nullif(current_setting('ecom.raw_check_since', true), '')::timestamptz, '-infinity'
    )
$$;

-- The batches and files of the window.
create view quality.raw_batches_to_check as
select batches.*
from raw.ingestion_batches as batches
where batches.xact_id >= quality.raw_check_from_xmin()
    and batches.xact_id < quality.raw_check_to_xmin();

create view quality.raw_files_to_check as
select files.*
from raw.ingestion_files as files
where files.xact_id >= quality.raw_check_from_xmin()
    and files.xact_id < quality.raw_check_to_xmin();

-- The rows of the window: those from the window's oldest batch on, less the
-- rows of batches outside it (committed later, or earlier but started since).
-- A row that no ledger batch accounts for stays in, so the checkpoint finds it
-- when it lies in the window's time range (a --full run: wherever it lies).
-- (These views list the tables' columns as they are now: a migration that adds
-- a column to raw replaces them.)
create view quality.raw_events_to_check as
select events.*
from raw.ecommerce_events as events
where events.ingested_at >= quality.raw_check_since()
    and not exists (
        select
        from raw.ingestion_batches as batches
        where batches.query_id = events.query_id
            and batches.batch_id = events.batch_id
            and batches.xact_started_at >= quality.raw_check_since()
            and not (
                batches.xact_id >= quality.raw_check_from_xmin()
                and batches.xact_id < quality.raw_check_to_xmin()
            )
    );

create view quality.raw_rejected_to_check as
select rejected.*
from raw.ecommerce_events_rejected as rejected
where rejected.rejected_at >= quality.raw_check_since()
    and not exists (
        select
        from raw.ingestion_batches as batches
        where batches.query_id = rejected.query_id
            and batches.batch_id = rejected.batch_id
            and batches.xact_started_at >= quality.raw_check_since()
            and not (
                batches.xact_id >= quality.raw_check_from_xmin()
                and batches.xact_id < quality.raw_check_to_xmin()
            )
    );

-- Each run of a windowed checkpoint records its window (null: not windowed, or
-- a run before this migration) and what it held.
alter table quality.checkpoint_runs
    add column checked_from_xmin bigint,
    add column checked_to_xmin bigint,
    add column checked_batches bigint,
    add column checked_rows bigint;
create index checkpoint_runs_passed_to_xmin
    on quality.checkpoint_runs (checkpoint_name, checked_to_xmin)
    where success and checked_to_xmin is not null;
