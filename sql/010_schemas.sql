-- Schemas of the warehouse. Idempotent: safe to run any number of times.
-- raw      landing zone written by the streaming job (append-only)
-- staging  dbt staging and intermediate models (owned by the transformer role)
-- marts    dbt marts that analysts and BI tools query
create schema if not exists raw;
create schema if not exists staging;
create schema if not exists marts;
