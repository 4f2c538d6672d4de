{#-
    What a run of stg_ecommerce__events reads, decided when it is compiled, in
    one snapshot of the ledger, as "xmin|cursor|since":
    - xmin: that snapshot's xmin, stored in the rows this run stages: every
      loader transaction with a smaller id had finished then;
    - cursor: the xmin stored by the newest run that staged rows (through the
      index on staged_at); empty on the first build, or when that run
      predates the column: then the run reads the whole ledger;
    - since: the oldest xact_started_at of the batches the snapshot shows with
      xact_id >= cursor (empty when there are none), a constant lower bound
      on their rows' ingested_at for the BRIN index. A batch that commits
      after the snapshot has an id >= xmin, so the next run reads it.
    Two queries, and the second only with a cursor: a unit test, whose
    inputs are not tables, needs neither. batches_where narrows the batches
    (stg_ecommerce__events_rejected: those with rejects, an index of their own).
-#}
{% macro staging_window(batches_where='true') -%}
    {%- set xmin, cursor, since = '', '', '' -%}
    {%- if execute -%}
        {%- if is_incremental() -%}
            {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
            {%- if 'staging_xmin' in columns -%}
                {%- set query -%}
                    select staging_xmin::text from {{ this }} order by staged_at desc limit 1
                {%- endset -%}
                {%- set rows = run_query(query).rows -%}
                {%- set cursor = rows[0][0] if rows | length > 0 and rows[0][0] is not none else '' -%}
            {%- endif -%}
        {%- endif -%}
        {%- if cursor -%}
            {%- set query -%}
                select pg_snapshot_xmin(pg_current_snapshot())::text, min(xact_started_at)::text
                from {{ source('ecommerce', 'ingestion_batches') }}
                where xact_id >= {{ cursor }} and {{ batches_where }}
            {%- endset -%}
        {%- else -%}
            {%- set query = "select pg_snapshot_xmin(pg_current_snapshot())::text, null" -%}
        {%- endif -%}
        {%- set row = run_query(query).rows[0] -%}
        {%- set xmin = row[0] -%}
        {%- set since = row[1] if row[1] is not none else '' -%}
    {%- endif -%}
    {{- xmin ~ '|' ~ cursor ~ '|' ~ since -}}
{%- endmacro %}
