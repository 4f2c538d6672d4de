{#- The UTC calendar day of a timestamptz expression. -#}
{% macro utc_date(column) -%}
    ({{ column }} at time zone 'UTC')::date
{%- endmacro %}
