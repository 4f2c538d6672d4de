{#-
    One row per UTC day with any event: the day's event counts and the funnel
    of the sessions that started that day. Additive like fct_product_daily: a
    run folds the events staged since the newest staged_at here into the days
    they change, delete+insert on event_date; the first build is the same with
    nothing known. See dbt_project/README.md.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_date',
        indexes=[{'columns': ['staged_at']}],
    )
}}

{%- set after = since() %}

{#- what its input has processed: a run alone never gets ahead of it -#}
{%- set horizon = watermark('staged_at', ref('int_user_days_aggregated')) %}

with

{{ new_and_session_events(after, horizon) }},

new_days as (

    select
        event_date,
        {{ event_measures() }},
        max(staged_at) as staged_at
    from new_events
    group by event_date

),

-- a day's distinct users: the user-days first staged since the watermark
new_active_users as (

    select
        event_date,
        count(*) as active_users
    from {{ ref('int_user_days_aggregated') }}
    where
        staged_at > {{ after }}
        and first_staged_at > {{ after }}
        and first_staged_at <= {{ horizon }}
    group by event_date

),

session_deltas as (

    {{ session_deltas('session_events', after) }}

),

changes as (

    select
        event_date,
        views,
        add_to_carts,
        purchases,
        units,
        revenue,
        staged_at,
        0 as active_users,
        0 as sessions,
        0 as sessions_viewed,
        0 as sessions_carted,
        0 as sessions_purchased
    from new_days

    union all

    select
        event_date,
        0 as views,
        0 as add_to_carts,
        0 as purchases,
        0 as units,
        0 as revenue,
        null as staged_at,
        active_users,
        0 as sessions,
        0 as sessions_viewed,
        0 as sessions_carted,
        0 as sessions_purchased
    from new_active_users

    union all

    select
        event_date,
        0 as views,
        0 as add_to_carts,
        0 as purchases,
        0 as units,
        0 as revenue,
        null as staged_at,
        0 as active_users,
        sessions,
        sessions_viewed,
        sessions_carted,
        sessions_purchased
    from session_deltas

    {% if is_incremental() %}

        union all

        -- the rows already here that change (none after a rebuild of staging)
        select
            event_date,
            views,
            add_to_carts,
            purchases,
            units,
            revenue,
            staged_at,
            active_users,
            sessions,
            sessions_viewed,
            sessions_carted,
            sessions_purchased
        from {{ this }}
        where
            {{ staging_kept(after) }}
            and event_date in (
                select new_days.event_date from new_days
                union
                select new_active_users.event_date from new_active_users
                union
                select session_deltas.event_date from session_deltas
            )

    {% endif %}

),

final as (

    select
        event_date,
        sum(views)::bigint as views,
        sum(add_to_carts)::bigint as add_to_carts,
        sum(purchases)::bigint as purchases,
        sum(units)::bigint as units,
        sum(revenue)::numeric(18, 2) as revenue,
        sum(active_users)::bigint as active_users,
        sum(sessions)::bigint as sessions,
        sum(sessions_viewed)::bigint as sessions_viewed,
        sum(sessions_carted)::bigint as sessions_carted,
        sum(sessions_purchased)::bigint as sessions_purchased,
        {{ safe_ratio('sum(sessions_carted)', 'sum(sessions_viewed)') }}
            as session_view_to_cart_rate,
        {{ safe_ratio('sum(sessions_purchased)', 'sum(sessions_carted)') }}
            as session_cart_to_purchase_rate,
        {{ safe_ratio('sum(sessions_purchased)', 'sum(sessions_viewed)') }}
            as session_conversion_rate,
        max(staged_at) as staged_at
    from changes
    group by event_date

)

select * from final
