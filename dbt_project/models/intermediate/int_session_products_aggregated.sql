{#-
    One row per (session, product) the session touched. Incremental (the
    folder's delete+insert) with unique_key session_id on purpose: a run
    replaces all rows of each session that received events staged since the
    newest one here, recomputed from all of that session's staged events, so
    a pair can move (a late view changes its first view) without leftovers.
-#}
{{
    config(
        unique_key='session_id',
        indexes=[
            {'columns': ['session_id', 'product_id'], 'unique': true},
            {'columns': ['staged_at']},
            {'columns': ['first_viewed_date']},
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

    select events.*
    from events
    {% if is_incremental() %}
        where events.session_id in (select new_events.session_id from new_events)
    {% endif %}

),

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
    from session_events
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
