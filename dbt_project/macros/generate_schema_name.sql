{#-
    Models land in exactly the schema they are configured with (`staging`,
    `marts`), not in dbt's default `<target schema>_<custom schema>`: the
    schemas, their owner and the analysts' grants are set up by sql/ and are
    the same in every environment. Without a custom schema, the target's.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
