-- Migration 0004: files from the field's tools. A header is mapped by name, so a
-- file may bring columns beyond the contract: they are kept with their row, never
-- dropped (as Auto Loader's rescued data column), as one JSON object keyed by the
-- header's names (null when the file has none). The file ledger records how each
-- delivery was read: its header line, the delimiter the header revealed, and, for
-- a compressed file, the compression and the size once decompressed (size_bytes
-- and sha256 stay those of the file as delivered), and the zone the job read times
-- without one in (--naive-timezone; null: such times were quarantined).
-- depends: 0003.query-id-and-ledger-cursor

alter table raw.ecommerce_events add column if not exists extra_columns jsonb;

alter table raw.ingestion_files add column if not exists header text;
alter table raw.ingestion_files add column if not exists delimiter text;
alter table raw.ingestion_files add column if not exists compression text;
alter table raw.ingestion_files add column if not exists decompressed_bytes bigint;
alter table raw.ingestion_files add column if not exists naive_timezone text;
