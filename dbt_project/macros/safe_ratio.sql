{#-
    numerator / denominator as numeric(precision, scale), rounded half away
    from zero; null when the denominator is 0 (or null): a rate with nothing
    to divide by is unknown, not 0.
-#}
{% macro safe_ratio(numerator, denominator, scale=6, precision=12) -%}
    round(({{ numerator }})::numeric / nullif({{ denominator }}, 0), {{ scale }})::numeric({{ precision }}, {{ scale }})
{%- endmacro %}
