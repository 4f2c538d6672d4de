{#-
    One row per (session, product) the session touched. Every column folds:
    a run aggregates the events staged since the newest staged_at here per
    pair and merges them into the pair's stored row (counts add up, first
    and last times take the min and max), delete+insert on the pair; the
    first build is the same with nothing stored. See dbt_project/README.md.
-#}
{{
    config(
        unique_key=['session_id', 'product_id'],
        indexes=[
            {'columns': ['session_id', 'product_id'], 'unique': true},
            {'columns': ['staged_at']},
            {'columns': ['first_viewed_date']},
        ],
    )
}}

{%- set after = since() %}

with

events as (

    select * from {{ ref('stg_ecommerce__events') }}
    where staged_at > {{ after }}

),

new_pairs as (

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
    from events
    group by session_id, product_id

),

changes as (

    select * from new_pairs

    {% if is_incremental() %}

        union all

        -- the pairs already here that change (none after a rebuild of staging)
        select
            session_id,
            product_id,
            first_event_at,
            last_event_at,
            views,
            add_to_carts,
            purchases,
            first_viewed_at,
            last_purchased_at,
            staged_at
        from {{ this }}
        where
            {{ staging_kept(after) }}
            and (session_id, product_id) in (
                select
                    new_pairs.session_id,
                    new_pairs.product_id
                from new_pairs
            )

    {% endif %}

),

aggregated as (

    select
        session_id,
        product_id,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        sum(views)::bigint as views,
        sum(add_to_carts)::bigint as add_to_carts,
        sum(purchases)::bigint as purchases,
        min(first_viewed_at) as first_viewed_at,
        max(last_purchased_at) as last_purchased_at,
        max(staged_at) as staged_at
    from changes
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
