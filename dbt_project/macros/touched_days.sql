{#-
    The UTC days a day-grain incremental model must recompute, as a SQL
    date[] literal such as '{2024-05-01,2024-05-02}'::date[].

    They are every day from first_event_date to last_event_date of the rows
    of `relation` (an intermediate session model, passed in as a ref so dbt
    sees the dependency) recomputed after `since` (the calling model's own
    watermark). Those rows are the sessions, or session x product pairs, that
    received new events; the days they span hold the new events (late ones
    on old days) and both the day a first view or first event used to be on
    and the day it is on now. Run at compile time, like watermark().
-#}
{% macro touched_days(relation, since) -%}
    {%- set days = '' -%}
    {%- if execute -%}
        {%- set query -%}
            select coalesce(string_agg(distinct touched.event_date::date::text, ','), '')
            from {{ relation }} as recomputed
            cross join lateral generate_series(
                recomputed.first_event_date, recomputed.last_event_date, interval '1 day'
            ) as touched (event_date)
            where recomputed.staged_at > {{ since }}
        {%- endset -%}
        {%- set days = run_query(query).columns[0].values()[0] -%}
    {%- endif -%}
    '{{ '{' ~ days ~ '}' }}'::date[]
{%- endmacro %}
