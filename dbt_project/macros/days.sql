{#-
    Days: the UTC calendar day an event counts on, and the session measures
    of the daily facts, where a session counts on the day of its first event
    and a session x product pair on the day of its first view. (One file:
    sqlfluff's jinja templater does not let a macro call one from another file.)
-#}

{#- The UTC calendar day of a timestamptz expression. -#}
{% macro utc_date(column) -%}
    ({{ column }} at time zone 'UTC')::date
{%- endmacro %}


{#-
    How the session measures of the daily facts change when `session_events`
    (all staged events of the sessions with new events) are counted instead of
    the part of them staged up to `since` (what the fact counted before). A
    session, or a session x product pair, counts on one UTC day (of its first
    event, of its first view), and a later event can change its steps or move
    it to an earlier day: its new contribution goes in, the counted one out.
    With since = '-infinity' nothing was counted: the first build.
-#}

{#- Per product and day: the change in pairs viewed, and purchased after the
    view (int_session_products_aggregated's definitions). -#}
{% macro session_product_deltas(session_events, since) -%}
    with pairs as (

        select
            product_id,
            min(event_at) filter (where event_type = 'view') as viewed_at,
            max(event_at) filter (where event_type = 'purchase') as purchased_at,
            min(event_at) filter (
                where event_type = 'view' and staged_at <= {{ since }}
            ) as counted_viewed_at,
            max(event_at) filter (
                where event_type = 'purchase' and staged_at <= {{ since }}
            ) as counted_purchased_at
        from {{ session_events }}
        group by session_id, product_id

    ),

    changes as (

        select
            product_id,
            {{ utc_date('viewed_at') }} as event_date,
            1 as sessions_viewed,
            coalesce(purchased_at >= viewed_at, false)::int as sessions_purchased_after_view
        from pairs
        where viewed_at is not null

        union all

        select
            product_id,
            {{ utc_date('counted_viewed_at') }} as event_date,
            -1 as sessions_viewed,
            -coalesce(counted_purchased_at >= counted_viewed_at, false)::int
                as sessions_purchased_after_view
        from pairs
        where counted_viewed_at is not null

    )

    select
        product_id,
        event_date,
        sum(sessions_viewed) as sessions_viewed,
        sum(sessions_purchased_after_view) as sessions_purchased_after_view
    from changes
    group by product_id, event_date
    having sum(sessions_viewed) != 0 or sum(sessions_purchased_after_view) != 0
{%- endmacro %}


{#- Per day: the change in sessions, and in sessions that viewed, carted after
    a view, purchased after that cart (int_sessions_aggregated's definitions). -#}
{% macro session_deltas(session_events, since) -%}
    with steps as (

        select
            session_id,
            event_type,
            event_at,
            staged_at <= {{ since }} as is_counted,
            min(event_at) filter (where event_type = 'view')
                over (partition by session_id) as session_viewed_at,
            min(event_at) filter (where event_type = 'view' and staged_at <= {{ since }})
                over (partition by session_id) as counted_session_viewed_at
        from {{ session_events }}

    ),

    sessions as (

        select
            min(event_at) as started_at,
            min(event_at) filter (where event_type = 'view') as viewed_at,
            min(event_at) filter (
                where event_type = 'add_to_cart' and event_at >= session_viewed_at
            ) as carted_at,
            max(event_at) filter (where event_type = 'purchase') as purchased_at,
            min(event_at) filter (where is_counted) as counted_started_at,
            min(event_at) filter (where is_counted and event_type = 'view') as counted_viewed_at,
            min(event_at) filter (
                where is_counted and event_type = 'add_to_cart'
                and event_at >= counted_session_viewed_at
            ) as counted_carted_at,
            max(event_at) filter (
                where is_counted and event_type = 'purchase'
            ) as counted_purchased_at
        from steps
        group by session_id

    ),

    changes as (

        select
            {{ utc_date('started_at') }} as event_date,
            1 as sessions,
            (viewed_at is not null)::int as sessions_viewed,
            (carted_at is not null)::int as sessions_carted,
            coalesce(purchased_at >= carted_at, false)::int as sessions_purchased
        from sessions

        union all

        select
            {{ utc_date('counted_started_at') }} as event_date,
            -1 as sessions,
            -(counted_viewed_at is not null)::int as sessions_viewed,
            -(counted_carted_at is not null)::int as sessions_carted,
            -coalesce(counted_purchased_at >= counted_carted_at, false)::int as sessions_purchased
        from sessions
        where counted_started_at is not null

    )

    select
        event_date,
        sum(sessions) as sessions,
        sum(sessions_viewed) as sessions_viewed,
        sum(sessions_carted) as sessions_carted,
        sum(sessions_purchased) as sessions_purchased
    from changes
    group by event_date
    having
        sum(sessions) != 0 or sum(sessions_viewed) != 0 or sum(sessions_carted) != 0
        or sum(sessions_purchased) != 0
{%- endmacro %}


{#- One row per session of `events` (a relation or CTE of staged events, every
    event of each session in it), with its steps: int_sessions_aggregated's
    definition, also read by the funnel's reconciliation (tests/reconcile). -#}
{% macro sessions_aggregated(events) -%}
with

events as (

    select
        *,
        min(event_at) filter (where event_type = 'view')
            over (partition by session_id) as session_viewed_at
    from {{ events }}

),

aggregated as (

    select
        session_id,
        -- the user of the session's first event (ties: the smallest event_id)
        (array_agg(user_id order by event_at asc, event_id asc))[1] as user_id,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        count(*) as events,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        min(event_at) filter (where event_type = 'view') as first_viewed_at,
        min(event_at) filter (
            where event_type = 'add_to_cart' and event_at >= session_viewed_at
        ) as first_carted_after_view_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchased_at,
        max(staged_at) as staged_at
    from events
    group by session_id

),

final as (

    select
        session_id,
        user_id,
        first_event_at,
        last_event_at,
        {{ utc_date('first_event_at') }} as first_event_date,
        {{ utc_date('last_event_at') }} as last_event_date,
        events,
        views,
        add_to_carts,
        purchases,
        first_viewed_at,
        first_carted_after_view_at,
        last_purchased_at,
        first_viewed_at is not null as has_viewed,
        first_carted_after_view_at is not null as has_carted_after_view,
        coalesce(
            last_purchased_at >= first_carted_after_view_at, false
        ) as has_purchased_after_cart,
        staged_at
    from aggregated

)

select * from final
{%- endmacro %}


{#- One row per (session, product) of `events` (every event of each session in
    it): int_session_products_aggregated's definition, also read by
    fct_product_daily's reconciliation (tests/reconcile). -#}
{% macro session_products_aggregated(events) -%}
with

aggregated as (

    select
        session_id,
        product_id,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        min(event_at) filter (where event_type = 'view') as first_viewed_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchased_at,
        max(staged_at) as staged_at
    from {{ events }}
    group by session_id, product_id

),

final as (

    select
        session_id,
        product_id,
        first_event_at,
        last_event_at,
        {{ utc_date('first_event_at') }} as first_event_date,
        {{ utc_date('last_event_at') }} as last_event_date,
        views,
        add_to_carts,
        purchases,
        first_viewed_at,
        {{ utc_date('first_viewed_at') }} as first_viewed_date,
        last_purchased_at,
        first_viewed_at is not null as has_viewed,
        coalesce(last_purchased_at >= first_viewed_at, false) as has_purchased_after_view,
        staged_at
    from aggregated

)

select * from final
{%- endmacro %}
