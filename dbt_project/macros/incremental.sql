{#-
    Building blocks of the additive incremental models (dbt_project/README.md,
    "How a run stays incremental").
-#}

{#-
    The newest value of a timestamptz `column` in `relation` (default: the
    model being built) as a SQL literal; '-infinity' when the table is empty.
    With aggregate='min', the oldest value instead.

    It runs a small query when the model is compiled, so the incremental
    filter reaches PostgreSQL as a constant: the planner then sees how few
    rows are new and uses the indexes, where `> (select max(...) from this)`
    gets the default estimate of a third of the table and a sequential scan
    (checked with EXPLAIN on 5M events). The value travels as text, so it is
    exact to the microsecond. Of the model being built (no relation given),
    call it only under `is_incremental()`.
-#}
{% macro watermark(column, relation=none, aggregate='max') -%}
    {%- set relation = relation if relation is not none else this -%}
    {%- set value = none -%}
    {%- if execute -%}
        {%- set query = "select " ~ aggregate ~ "(" ~ column ~ ")::text from " ~ relation -%}
        {%- set result = run_query(query) -%}
        {%- set value = result.columns[0].values()[0] -%}
    {%- endif -%}
    {%- if value is none -%}
        '-infinity'::timestamptz
    {%- else -%}
        '{{ value }}'::timestamptz
    {%- endif -%}
{%- endmacro %}


{#- `watermark(column)` of the model being built, or '-infinity' on its first
    build and on a full refresh: then every staged event is new. -#}
{% macro since(column='staged_at') -%}
    {%- if is_incremental() -%}
        {{ watermark(column) }}
    {%- else -%}
        '-infinity'::timestamptz
    {%- endif -%}
{%- endmacro %}


{#- True unless staging was rebuilt after this model's last run (its oldest
    staged_at is newer than `after`, the model's watermark): then every event
    is new again, and the rows already here must not be added to. Only under
    is_incremental(). -#}
{% macro staging_kept(after) -%}
    {{ watermark('staged_at', ref('stg_ecommerce__events'), 'min') }} <= {{ after }}
{%- endmacro %}


{#- The additive measures of a set of staged events, as select-list items. -#}
{% macro event_measures() -%}
    count(*) filter (where event_type = 'view') as views,
    count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
    count(*) filter (where event_type = 'purchase') as purchases,
    coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units,
    coalesce(sum(unit_price * quantity) filter (where event_type = 'purchase'), 0) as revenue
{%- endmacro %}


{#- Two CTEs: new_events, the events staged after `after` (the model's
    since()) up to `horizon` (what its inputs have processed), and
    session_events, all staged events up to `horizon` of the sessions with new
    events (a second import, through the index on session_id; on the first
    build, every event). -#}
{% macro new_and_session_events(after, horizon) -%}
    new_events as (

        select * from {{ ref('stg_ecommerce__events') }}
        where staged_at > {{ after }} and staged_at <= {{ horizon }}

    ),

    session_events as (

        select * from {{ ref('stg_ecommerce__events') }}
        where
            staged_at <= {{ horizon }}
            {% if is_incremental() %}
                and session_id in (select new_events.session_id from new_events)
            {% endif %}

    )
{%- endmacro %}


{#- Select-list items for one branch of a fold's `union all`: the columns of
    `columns` (a mapping of name to its neutral value: 0 for a count, null for
    a time), or, with neutral=true, their neutral values under their names,
    for a branch that has no such columns. -#}
{% macro fold_columns(columns, neutral=false) -%}
    {%- for name, value in columns.items() -%}
        {{ value ~ ' as ' ~ name if neutral else name }}{{ ',\n        ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}


{#- A fold's parts: the CTE `new_parts` and (under is_incremental() only)
    the rows of the model being built whose `keys` it changes, with the
    columns of `column_groups` (lists of names, or mappings as fold_columns
    takes them); none after a rebuild of staging (staging_kept). -#}
{% macro new_and_known_rows(new_parts, keys, column_groups, after) -%}
    select * from {{ new_parts }}
    {%- if is_incremental() %}

    union all

    -- the rows already here that change
    select
        {{ keys | join(',\n        ') }},
        {%- for columns in column_groups %}
        {{ fold_columns(columns) if columns is mapping else columns | join(',\n        ') }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from {{ this }}
    where
        {{ staging_kept(after) }}
        and ({{ keys | join(', ') }}) in (
            select {{ new_parts }}.{{ keys | join(', ' ~ new_parts ~ '.') }} from {{ new_parts }}
        )
    {%- endif %}
{%- endmacro %}
