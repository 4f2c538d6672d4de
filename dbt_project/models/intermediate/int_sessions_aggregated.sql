{#-
    One row per session. Incremental (the folder's delete+insert, unique_key
    session_id): a run recomputes, from all their staged events, only the
    sessions that received events staged since the newest one here; a session
    is small, so that costs the size of the new data, not of history.
-#}
{{
    config(
        unique_key='session_id',
        indexes=[
            {'columns': ['session_id'], 'unique': true},
            {'columns': ['staged_at']},
            {'columns': ['first_event_date']},
        ],
    )
}}

with

events as (

    select * from {{ ref('stg_ecommerce__events') }}

),

{% if is_incremental() %}

    -- a second import of the same model, not a reference to `events`: a CTE
    -- referenced twice is materialized whole, one referenced once is inlined
    -- and can use the index on staged_at
    new_events as (

        select * from {{ ref('stg_ecommerce__events') }}
        where staged_at > {{ watermark('staged_at') }}

    ),

{% endif %}

session_events as (

    select
        events.session_id,
        events.event_id,
        events.event_type,
        events.user_id,
        events.event_at,
        events.staged_at,
        min(events.event_at) filter (
            where events.event_type = 'view'
        ) over (partition by events.session_id) as session_first_viewed_at
    from events
    {% if is_incremental() %}
        where events.session_id in (select new_events.session_id from new_events)
    {% endif %}

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
            where event_type = 'add_to_cart' and event_at >= session_first_viewed_at
        ) as first_carted_after_view_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchased_at,
        max(staged_at) as staged_at
    from session_events
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
