{#-
    One row per session. Every column folds: a run aggregates the events
    staged since the newest staged_at here per session and merges them into
    the session's stored row, delete+insert on session_id; the first build is
    the same with nothing stored. The first cart after the first view folds
    too because a row keeps the carts earlier than its first view
    (carts_before_view): an earlier view can only bring those in. See
    dbt_project/README.md.
-#}
{{
    config(
        unique_key='session_id',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['session_id'], 'unique': true},
            {'columns': ['staged_at']},
            {'columns': ['first_event_date']},
        ],
    )
}}

{#- A table of the release before, without carts_before_view, is rebuilt once. -#}
{%- set folds = is_incremental() and (
    not execute
    or 'carts_before_view' in adapter.get_columns_in_relation(this) | map(attribute='name') | list
) %}
{%- set after = since() if folds else "'-infinity'::timestamptz" %}

with

events as (

    select * from {{ ref('stg_ecommerce__events') }}
    where staged_at > {{ after }}

),

new_sessions as (

    select
        session_id,
        -- the first event (ties: the smallest event_id) and its user
        (array_agg(event_id order by event_at asc, event_id asc))[1] as first_event_id,
        (array_agg(user_id order by event_at asc, event_id asc))[1] as user_id,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        count(*) as events,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        min(event_at) filter (where event_type = 'view') as first_viewed_at,
        max(event_at) filter (where event_type = 'purchase') as last_purchased_at,
        jsonb_agg(event_at) filter (where event_type = 'add_to_cart') as carts,
        max(staged_at) as staged_at
    from events
    group by session_id

),

changes as (

    select * from new_sessions

    {% if folds %}

        union all

        -- the sessions already here that change (none after a rebuild of
        -- staging); of their carts, the first after the view and the earlier ones
        select
            session_id,
            first_event_id,
            user_id,
            first_event_at,
            last_event_at,
            events,
            views,
            add_to_carts,
            purchases,
            first_viewed_at,
            last_purchased_at,
            carts_before_view || jsonb_build_array(first_carted_after_view_at) as carts,
            staged_at
        from {{ this }}
        where
            {{ staging_kept(after) }}
            and session_id in (select new_sessions.session_id from new_sessions)

    {% endif %}

),

merged as (

    select
        session_id,
        (array_agg(first_event_id order by first_event_at asc, first_event_id asc))[1]
            as first_event_id,
        (array_agg(user_id order by first_event_at asc, first_event_id asc))[1] as user_id,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        sum(events)::bigint as events,
        sum(views)::bigint as views,
        sum(add_to_carts)::bigint as add_to_carts,
        sum(purchases)::bigint as purchases,
        min(first_viewed_at) as first_viewed_at,
        max(last_purchased_at) as last_purchased_at,
        max(staged_at) as staged_at
    from changes
    group by session_id

),

cart_times as (

    select
        changes.session_id,
        cart.value::timestamptz as carted_at
    from changes
    cross join lateral jsonb_array_elements_text(changes.carts) as cart
    where cart.value is not null

),

carts as (

    select
        merged.session_id,
        min(cart_times.carted_at) filter (
            where cart_times.carted_at >= merged.first_viewed_at
        ) as first_carted_after_view_at,
        jsonb_agg(cart_times.carted_at order by cart_times.carted_at) filter (
            where cart_times.carted_at < merged.first_viewed_at or merged.first_viewed_at is null
        ) as carts_before_view
    from cart_times
    inner join merged on cart_times.session_id = merged.session_id
    group by merged.session_id

),

final as (

    select
        merged.session_id,
        merged.user_id,
        merged.first_event_id,
        merged.first_event_at,
        merged.last_event_at,
        {{ utc_date('merged.first_event_at') }} as first_event_date,
        {{ utc_date('merged.last_event_at') }} as last_event_date,
        merged.events,
        merged.views,
        merged.add_to_carts,
        merged.purchases,
        merged.first_viewed_at,
        carts.first_carted_after_view_at,
        merged.last_purchased_at,
        merged.first_viewed_at is not null as has_viewed,
        carts.first_carted_after_view_at is not null as has_carted_after_view,
        coalesce(
            merged.last_purchased_at >= carts.first_carted_after_view_at, false
        ) as has_purchased_after_cart,
        coalesce(carts.carts_before_view, '[]') as carts_before_view,
        merged.staged_at
    from merged
    left join carts on merged.session_id = carts.session_id

)

select * from final
