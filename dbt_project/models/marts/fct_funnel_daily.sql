{#-
    One row per UTC day with any event: event counts of the day and the
    session funnel of the sessions that started that day. Incremental, not
    the folder's table, and additive in the same way as fct_product_daily
    (see its header): a run reads the events staged since the newest
    staged_at here, up to the newest one its inputs have processed, and
    rewrites only the days whose figures change (delete+insert on
    event_date), at the cost of the new events and their sessions:
    - event counts, units and revenue add up;
    - active_users (distinct users) adds the user-days first staged since the
      watermark, from the compact int_user_days_aggregated (users x days);
    - a session counts on the UTC day of its first event, and its funnel
      steps can change with any later event, so the sessions with new events
      are recomputed from all their staged events: each one's new
      contribution goes in and the one it had from the events already counted
      (staged_at up to the watermark) comes out. A late event can so move a
      session to an earlier day.
    After a rebuild of staging the days are recomputed from the events alone.
    A full refresh counts the sessions from int_sessions_aggregated.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_date',
        indexes=[{'columns': ['staged_at']}],
    )
}}

{%- if is_incremental() -%}
    {%- set since = watermark('staged_at') -%}
    {%- set horizon -%}
        least(
            {{ watermark('staged_at', ref('int_sessions_aggregated')) }},
            {{ watermark('staged_at', ref('int_user_days_aggregated')) }}
        )
    {%- endset -%}
    {%- set staging_kept = watermark('staged_at', ref('stg_ecommerce__events'), 'min')
        ~ ' <= ' ~ since -%}
{%- endif %}

with

{% if is_incremental() %}

    new_events as (

        select * from {{ ref('stg_ecommerce__events') }}
        where staged_at > {{ since }} and staged_at <= {{ horizon }}

    ),

    -- a second import: all staged events (up to the horizon) of the sessions
    -- with new events, through the index on session_id
    session_events as (

        select * from {{ ref('stg_ecommerce__events') }}
        where
            session_id in (select new_events.session_id from new_events)
            and staged_at <= {{ horizon }}

    ),

    new_user_days as (

        -- users whose first event of the day was staged since the watermark
        select * from {{ ref('int_user_days_aggregated') }}
        where
            staged_at > {{ since }}
            and first_staged_at > {{ since }}
            and first_staged_at <= {{ horizon }}

    ),

{% else %}

    events as (

        select * from {{ ref('stg_ecommerce__events') }}

    ),

    user_days as (

        select * from {{ ref('int_user_days_aggregated') }}

    ),

    sessions as (

        select * from {{ ref('int_sessions_aggregated') }}

    ),

{% endif %}

{% if is_incremental() %}

    new_days as (

        select
            event_date,
            count(*) filter (where event_type = 'view') as views,
            count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
            count(*) filter (where event_type = 'purchase') as purchases,
            coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units,
            coalesce(
                sum(unit_price * quantity) filter (where event_type = 'purchase'), 0
            ) as revenue,
            max(staged_at) as staged_at
        from new_events
        group by event_date

    ),

    new_active_users as (

        select
            event_date,
            count(*) as active_users
        from new_user_days
        group by event_date

    ),

    session_steps as (

        select
            session_id,
            event_type,
            event_at,
            staged_at <= {{ since }} as is_counted,
            min(event_at) filter (
                where event_type = 'view'
            ) over (partition by session_id) as session_first_viewed_at,
            min(event_at) filter (
                where event_type = 'view' and staged_at <= {{ since }}
            ) over (partition by session_id) as counted_session_first_viewed_at
        from session_events

    ),

    sessions as (

        -- each session now, and as already counted (its events staged up to
        -- the watermark): the definitions of int_sessions_aggregated
        select
            session_id,
            min(event_at) as first_event_at,
            min(event_at) filter (where event_type = 'view') as first_viewed_at,
            min(event_at) filter (
                where event_type = 'add_to_cart' and event_at >= session_first_viewed_at
            ) as first_carted_after_view_at,
            max(event_at) filter (where event_type = 'purchase') as last_purchased_at,
            min(event_at) filter (where is_counted) as counted_first_event_at,
            min(event_at) filter (
                where is_counted and event_type = 'view'
            ) as counted_first_viewed_at,
            min(event_at) filter (
                where is_counted and event_type = 'add_to_cart'
                and event_at >= counted_session_first_viewed_at
            ) as counted_first_carted_after_view_at,
            max(event_at) filter (
                where is_counted and event_type = 'purchase'
            ) as counted_last_purchased_at
        from session_steps
        group by session_id

    ),

    session_changes as (

        -- a session counts on the UTC day of its first event: new contribution in
        select
            {{ utc_date('first_event_at') }} as event_date,
            1 as sessions,
            case when first_viewed_at is not null then 1 else 0 end as sessions_viewed,
            case when first_carted_after_view_at is not null then 1 else 0 end
                as sessions_carted,
            case when last_purchased_at >= first_carted_after_view_at then 1 else 0 end
                as sessions_purchased
        from sessions

        union all

        -- old contribution out
        select
            {{ utc_date('counted_first_event_at') }} as event_date,
            -1 as sessions,
            case when counted_first_viewed_at is not null then -1 else 0 end
                as sessions_viewed,
            case when counted_first_carted_after_view_at is not null then -1 else 0 end
                as sessions_carted,
            case
                when counted_last_purchased_at >= counted_first_carted_after_view_at then -1
                else 0
            end as sessions_purchased
        from sessions
        where counted_first_event_at is not null

    ),

    session_deltas as (

        select
            event_date,
            sum(sessions) as sessions,
            sum(sessions_viewed) as sessions_viewed,
            sum(sessions_carted) as sessions_carted,
            sum(sessions_purchased) as sessions_purchased
        from session_changes
        group by event_date

    ),

    changed_days as (

        select event_date from new_days

        union

        select event_date from session_deltas

    ),

    merged as (

        select
            changed_days.event_date,
            coalesce(new_days.views, 0) + coalesce(known_days.views, 0) as views,
            coalesce(new_days.add_to_carts, 0)
            + coalesce(known_days.add_to_carts, 0) as add_to_carts,
            coalesce(new_days.purchases, 0) + coalesce(known_days.purchases, 0) as purchases,
            coalesce(new_days.units, 0) + coalesce(known_days.units, 0) as units,
            coalesce(new_days.revenue, 0) + coalesce(known_days.revenue, 0) as revenue,
            coalesce(new_active_users.active_users, 0)
            + coalesce(known_days.active_users, 0) as active_users,
            coalesce(session_deltas.sessions, 0) + coalesce(known_days.sessions, 0) as sessions,
            coalesce(session_deltas.sessions_viewed, 0)
            + coalesce(known_days.sessions_viewed, 0) as sessions_viewed,
            coalesce(session_deltas.sessions_carted, 0)
            + coalesce(known_days.sessions_carted, 0) as sessions_carted,
            coalesce(session_deltas.sessions_purchased, 0)
            + coalesce(known_days.sessions_purchased, 0) as sessions_purchased,
            greatest(new_days.staged_at, known_days.staged_at) as staged_at
        from changed_days
        left join new_days
            on changed_days.event_date = new_days.event_date
        left join new_active_users
            on changed_days.event_date = new_active_users.event_date
        left join session_deltas
            on changed_days.event_date = session_deltas.event_date
        left join {{ this }} as known_days
            on
                changed_days.event_date = known_days.event_date
                -- false after a rebuild of staging: start from scratch
                and {{ staging_kept }}

    ),

{% else %}

    daily_events as (

        select
            event_date,
            count(*) filter (where event_type = 'view') as views,
            count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
            count(*) filter (where event_type = 'purchase') as purchases,
            coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units,
            coalesce(
                sum(unit_price * quantity) filter (where event_type = 'purchase'), 0
            ) as revenue,
            max(staged_at) as staged_at
        from events
        group by event_date

    ),

    daily_users as (

        -- distinct users of the day: one row per user-day
        select
            event_date,
            count(*) as active_users
        from user_days
        group by event_date

    ),

    daily_sessions as (

        -- a session counts on the UTC day of its first event
        select
            first_event_date as event_date,
            count(*) as sessions,
            count(*) filter (where has_viewed) as sessions_viewed,
            count(*) filter (where has_carted_after_view) as sessions_carted,
            count(*) filter (where has_purchased_after_cart) as sessions_purchased
        from sessions
        group by first_event_date

    ),

    merged as (

        select
            daily_events.event_date,
            daily_events.views,
            daily_events.add_to_carts,
            daily_events.purchases,
            daily_events.units,
            daily_events.revenue,
            coalesce(daily_users.active_users, 0) as active_users,
            coalesce(daily_sessions.sessions, 0) as sessions,
            coalesce(daily_sessions.sessions_viewed, 0) as sessions_viewed,
            coalesce(daily_sessions.sessions_carted, 0) as sessions_carted,
            coalesce(daily_sessions.sessions_purchased, 0) as sessions_purchased,
            daily_events.staged_at
        from daily_events
        left join daily_users
            on daily_events.event_date = daily_users.event_date
        left join daily_sessions
            on daily_events.event_date = daily_sessions.event_date

    ),

{% endif %}

final as (

    select
        event_date,
        views::bigint as views,
        add_to_carts::bigint as add_to_carts,
        purchases::bigint as purchases,
        units::bigint as units,
        revenue::numeric(18, 2) as revenue,
        active_users::bigint as active_users,
        sessions::bigint as sessions,
        sessions_viewed::bigint as sessions_viewed,
        sessions_carted::bigint as sessions_carted,
        sessions_purchased::bigint as sessions_purchased,
        {{ safe_ratio('sessions_carted', 'sessions_viewed') }} as session_view_to_cart_rate,
        {{ safe_ratio('sessions_purchased', 'sessions_carted') }}
            as session_cart_to_purchase_rate,
        {{ safe_ratio('sessions_purchased', 'sessions_viewed') }} as session_conversion_rate,
        staged_at
    from merged

)

select * from final
