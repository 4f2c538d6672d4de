{#-
    The reconciliation tests (tests/reconcile/) compare each mart with what it
    is built from, at the mart's own grain. On an incremental run they check
    what the run changed, not all history: the keys (hours, days, products x
    days, users) of the events staged since reconcile_since(), and the mart
    rows written since then. See dbt_project/README.md, "Tests".
-#}

{#- The staged_at from which the reconciliation tests read, as a constant:
    var reconcile_since = 'last run' (the default: the events the newest
    staging run staged), 'all' (every staged event) or a timestamp. -#}
{% macro reconcile_since() -%}
    {%- set value = var('reconcile_since', 'last run') | string -%}
    {%- if value == 'all' -%}
        '-infinity'::timestamptz
    {%- elif value == 'last run' -%}
        {{ watermark('staged_at', ref('stg_ecommerce__events')) }}
    {%- else -%}
        '{{ value | replace("'", "''") }}'::timestamptz
    {%- endif -%}
{%- endmacro %}


{#- Two CTEs: changed_events, the staged events since `since` and every
    staged event of their sessions (what an incremental run of the daily
    facts reads), and changed_days, the UTC days of those. -#}
{% macro changed_days(since) -%}
    window_sessions as (

        select distinct session_id from {{ ref('stg_ecommerce__events') }}
        where staged_at >= {{ since }}

    ),

    changed_events as (

        select * from {{ ref('stg_ecommerce__events') }}
        where session_id in (select window_sessions.session_id from window_sessions)

    ),

    changed_days as (

        select distinct event_date from changed_events

    )
{%- endmacro %}


{#- The staged events of the days in `days` (a CTE with event_date, through
    the index on event_date), and every staged event of the sessions that
    have one of them: CTEs day_events, day_sessions and session_events. -#}
{% macro day_and_session_events(days) -%}
    day_events as (

        select * from {{ ref('stg_ecommerce__events') }}
        where event_date in (select {{ days }}.event_date from {{ days }})

    ),

    day_sessions as materialized (

        select distinct session_id from day_events

    ),

    session_events as (

        select events.* from {{ ref('stg_ecommerce__events') }} as events
        inner join day_sessions
            on events.session_id = day_sessions.session_id

    )
{%- endmacro %}


{#- `selected` minus the rows whose `columns` are the same as those of
    `expected` on the same `keys`, and the other way round: one row per key
    that disagrees, with both sides' columns (side = 'mart' or 'expected'). -#}
{% macro disagreements(expected, selected, keys, columns) -%}
    {%- set compared = (keys + columns) | join(',\n            ') -%}
    (
        select
            'expected' as side,
            {{ compared }}
        from {{ expected }}
        except all
        select
            'expected' as side,
            {{ compared }}
        from {{ selected }}
    )

    union all

    (
        select
            'mart' as side,
            {{ compared }}
        from {{ selected }}
        except all
        select
            'mart' as side,
            {{ compared }}
        from {{ expected }}
    )
{%- endmacro %}


{#- A post-hook: an index on `column` of `relation` unless one exists. The
    `indexes` config is applied only when dbt creates a table, so a warehouse
    whose incremental table exists (and cannot be rebuilt once raw is
    trimmed) gets a new index this way. -#}
{% macro ensure_index(relation, column) -%}
    do $ensure_index$
    begin
        if not exists (
            select from pg_index
            inner join pg_attribute
                on pg_attribute.attrelid = pg_index.indrelid
                and pg_attribute.attnum = pg_index.indkey[0]
            where
                pg_index.indrelid = '{{ relation }}'::regclass
                and pg_attribute.attname = '{{ column }}'
        ) then
            create index on {{ relation }} ({{ column }});
        end if;
    end
    $ensure_index$
{%- endmacro %}


{#- What the newest staging run saw of the ledgers, as a constant: its
    snapshot's xmin (staging_window()). Every ledger write with a smaller
    xact_id had committed before that run, so the marts built after it hold
    it; later writes may or may not be there. 0 before anything is staged. -#}
{% macro ledger_horizon() -%}
    {%- set value = none -%}
    {%- if execute -%}
        {%- set query -%}
            select staging_xmin::text from {{ ref('stg_ecommerce__events') }}
            order by staged_at desc limit 1
        {%- endset -%}
        {%- set rows = run_query(query).rows -%}
        {%- set value = rows[0][0] if rows | length > 0 else none -%}
    {%- endif -%}
    {{- value if value is not none else 0 -}}
{%- endmacro %}
