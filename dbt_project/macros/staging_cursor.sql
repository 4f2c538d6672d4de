{#-
    The staging_xmin of the newest run of stg_ecommerce__events that staged
    rows (through the index on staged_at); empty when there is no such run or
    it predates the column (then the run reads the whole ledger). Call it
    only under `is_incremental()`.
-#}
{% macro staging_cursor() -%}
    {%- set value = none -%}
    {%- set columns = adapter.get_columns_in_relation(this) if execute else [] -%}
    {%- if 'staging_xmin' in columns | map(attribute='name') | list -%}
        {%- set query -%}
            select staging_xmin::text from {{ this }} order by staged_at desc limit 1
        {%- endset -%}
        {%- set result = run_query(query) -%}
        {%- if result.rows | length > 0 -%}
            {%- set value = result.columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {{- value if value is not none else '' -}}
{%- endmacro %}
