{#-
    Raise, with one line, when this model is built with --full-refresh (or
    full_refresh: true) after `ecom maintain` has dropped partitions of raw: a
    full refresh rebuilds from what raw still holds, and would lose the history
    the dropped partitions had. Nothing is checked otherwise. (The table is
    named, not a source(): dbt's unit tests would need it as an input.)
-#}
{% macro refuse_full_refresh_once_raw_is_trimmed() -%}
    {%- if execute and should_full_refresh() -%}
        {%- set query -%}
            select count(*), max(range_to)::text
            from raw.partitions_dropped
        {%- endset -%}
        {%- set row = run_query(query).rows[0] -%}
        {%- if row[0] > 0 -%}
            {{ exceptions.raise_compiler_error(
                this.identifier ~ " refuses --full-refresh: raw's rows ingested before "
                ~ row[1] ~ " were dropped by retention (" ~ row[0]
                ~ " partitions, see raw.partitions_dropped), so a full refresh would lose them; "
                ~ "build it without --full-refresh, or restore raw first"
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
