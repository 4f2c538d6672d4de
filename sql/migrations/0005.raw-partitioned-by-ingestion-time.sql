-- Migration 0005: raw partitioned by ingestion time, so that it can be trimmed.
-- raw.ecommerce_events becomes a range-partitioned table on ingested_at, and
-- raw.ecommerce_events_rejected on rejected_at (the same moment: both are now()
-- of the loader transaction, as is the ledger's xact_started_at). There is no
-- default partition: old partitions then detach concurrently, without blocking
-- the loader. Partitions are created ahead by raw.ensure_partitions() (ecom db,
-- the streaming job, live mode's maintenance) and dropped, when a retention is
-- set, by `ecom maintain` once the ledger shows all their batches staged
-- (pipeline/partitions.py). Each drop is recorded in raw.partitions_dropped;
-- dbt staging refuses a --full-refresh once one is there.
--
-- A warehouse of the release before keeps its rows where they are: its table
-- becomes the first partition, from MINVALUE to the next boundary (attaching it
-- reads it once to check the bound; nothing is copied). An empty one is
-- replaced.
-- depends: 0004.columns-beyond-the-contract

-- How raw is cut: one row. width: a partition's span (bounds are multiples of
-- it since the epoch, in UTC); ahead: how far past now partitions exist.
create table raw.partitioning (
    only_row boolean primary key default true check (only_row),
    width interval not null default '1 day',
    ahead interval not null default '2 days',
    constraint partitioning_width_divides_a_day check (
        extract(epoch from width) >= 60 and 86400 % extract(epoch from width)::integer = 0
    )
);
insert into raw.partitioning default values;

-- One row per partition dropped by retention (pipeline/partitions.py).
create table raw.partitions_dropped (
    table_name text not null,
    partition_name text not null,
    range_from timestamptz,
    range_to timestamptz not null,
    rows bigint not null,
    bytes bigint not null,
    dropped_at timestamptz not null default clock_timestamp()
);

-- Every partition of the partitioned tables in raw, with its bounds
-- (range_from null: MINVALUE, the table of the release before).
create view raw.partitions as
select
    parent.relname::text as table_name,
    child.relname::text as partition_name,
    substring(
        pg_get_expr(child.relpartbound, child.oid) from $re$FROM \('([^']*)'\)$re$
    )::timestamptz as range_from,
    substring(
        pg_get_expr(child.relpartbound, child.oid) from $re$TO \('([^']*)'\)$re$
    )::timestamptz as range_to,
    pg_total_relation_size(child.oid) as bytes,
    greatest(child.reltuples, 0)::bigint as estimated_rows
from pg_catalog.pg_inherits as inherits
join pg_catalog.pg_class as child on child.oid = inherits.inhrelid
join pg_catalog.pg_class as parent on parent.oid = inherits.inhparent
join pg_catalog.pg_namespace as namespace on namespace.oid = parent.relnamespace
where namespace.nspname = 'raw' and parent.relkind = 'p';

-- The ledger by time: retention asks which batches started before a bound.
create index ingestion_batches_xact_started_at on raw.ingestion_batches (xact_started_at);
-- The batches with rejects, for dbt's staging of the rejects: rare, so that
-- finding the new ones costs those, not every batch since the last reject.
create index ingestion_batches_with_rejects_xact_id on raw.ingestion_batches (xact_id)
where rows_rejected > 0;

-- The tables of the release before, set aside; their indexes renamed out of the way.
alter table raw.ecommerce_events rename to ecommerce_events_before;
alter index raw.ecommerce_events_ingested_at_brin rename to ecommerce_events_before_ingested_at_brin;
alter table raw.ecommerce_events_rejected rename to ecommerce_events_rejected_before;
alter index raw.ecommerce_events_rejected_at_brin rename to ecommerce_events_rejected_before_at_brin;

create table raw.ecommerce_events (
    like raw.ecommerce_events_before including defaults
) partition by range (ingested_at);
alter table raw.ecommerce_events
    add constraint ecommerce_events_query_id_not_null check (query_id is not null) not valid;
create index ecommerce_events_ingested_at_brin
    on raw.ecommerce_events using brin (ingested_at);

create table raw.ecommerce_events_rejected (
    like raw.ecommerce_events_rejected_before including defaults
) partition by range (rejected_at);
alter table raw.ecommerce_events_rejected
    add constraint ecommerce_events_rejected_query_id_not_null
    check (query_id is not null) not valid;
create index ecommerce_events_rejected_at_brin
    on raw.ecommerce_events_rejected using brin (rejected_at);

-- One partition of raw.<parent> for [low, high), named after low (UTC). It is
-- created apart and attached, which takes a lock that neither the loader's COPY
-- nor a reader waits for.
create function raw.add_partition(parent text, low timestamptz, high timestamptz) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
as $$
declare
    name text := parent || '_p' || to_char(low, 'YYYYMMDD"t"HH24MISS');
begin
    execute format(
        'create table raw.%I (like raw.%I including defaults including constraints)',
        name, parent
    );
    execute format(
        'alter table raw.%I attach partition raw.%I for values from (%L) to (%L)',
        parent, name, low, high
    );
end
$$;
revoke all on function raw.add_partition(text, timestamptz, timestamptz) from public;

-- Create the partitions that cover now() .. until (default: now() + ahead) and
-- return how many it made. With since (a backfill of rows with older times, or
-- a test's), also one partition from since's boundary to the first partition.
-- A security definer: the loader calls it, and only the owner of a table may
-- add partitions to it.
create function raw.ensure_partitions(
    until timestamptz default null, since timestamptz default null
) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set datestyle = 'ISO, YMD'
set timezone = 'UTC'
as $$
declare
    settings record;
    parent text;
    step double precision;
    low timestamptz;
    high timestamptz;
    target timestamptz;
    made integer := 0;
    first_from timestamptz;
    has_minvalue boolean;
begin
    perform pg_advisory_xact_lock(hashtext('ecom-raw-partitions'));
    select width, ahead into strict settings from raw.partitioning;
    step := extract(epoch from settings.width);
    target := coalesce(until, now() + settings.ahead);
    foreach parent in array array['ecommerce_events', 'ecommerce_events_rejected'] loop
        select max(range_to) into low from raw.partitions where table_name = parent;
        low := coalesce(low, to_timestamp(floor(extract(epoch from now()) / step) * step));
        while low <= target loop
            high := to_timestamp((floor(extract(epoch from low) / step) + 1) * step);
            perform raw.add_partition(parent, low, high);
            made := made + 1;
            low := high;
        end loop;
        select min(range_from), bool_or(range_from is null) into first_from, has_minvalue
        from raw.partitions where table_name = parent;
        low := to_timestamp(floor(extract(epoch from since) / step) * step);
        if since is not null and not has_minvalue and low < first_from then
            perform raw.add_partition(parent, low, first_from);
            made := made + 1;
        end if;
    end loop;
    return made;
end
$$;
revoke all on function raw.ensure_partitions(timestamptz, timestamptz) from public;

-- The tables of the release before: kept as the first partition when they hold
-- rows, up to the boundary after both their newest row and now().
do $$
declare
    parent text;
    column_name text;
    upper_bound timestamptz;
    step double precision;
begin
    select extract(epoch from width) into step from raw.partitioning;
    foreach parent in array array['ecommerce_events', 'ecommerce_events_rejected'] loop
        column_name := case parent when 'ecommerce_events' then 'ingested_at' else 'rejected_at' end;
        execute format('select max(%I) from raw.%I', column_name, parent || '_before')
            into upper_bound;
        if upper_bound is null then
            execute format('drop table raw.%I', parent || '_before');
        else
            upper_bound := to_timestamp(
                (floor(extract(epoch from greatest(upper_bound, now())) / step) + 1) * step
            );
            execute format(
                'alter table raw.%I attach partition raw.%I for values from (minvalue) to (%L)',
                parent, parent || '_before', upper_bound
            );
        end if;
    end loop;
end
$$;

select raw.ensure_partitions();
