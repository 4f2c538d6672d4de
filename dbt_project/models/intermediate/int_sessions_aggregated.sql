{#-
    One row per session. Every column folds: a run merges the events staged
    since the newest staged_at here into the stored rows of their sessions,
    delete+insert on session_id; the first build is the same with nothing
    stored. The first cart after the first view folds too because a row
    keeps the carts earlier than its first view (carts_before_view): only
    those can follow a view that arrives late. See dbt_project/README.md.
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

{% if folds %}

    -- the sessions already here that change (none after a rebuild of staging)
    known as (

        select * from {{ this }}
        where
            {{ staging_kept(after) }}
            and session_id in (select events.session_id from events)

    ),

{% endif %}

-- what each session is made of: its new events, its stored row and the
-- stored carts that may still follow a view
parts as (

    select
        session_id,
        event_id,
        user_id,
        event_at as first_event_at,
        event_at as last_event_at,
        1 as events,
        (event_type = 'view')::int as views,
        (event_type = 'add_to_cart')::int as add_to_carts,
        (event_type = 'purchase')::int as purchases,
        case when event_type = 'view' then event_at end as viewed_at,
        case when event_type = 'purchase' then event_at end as purchased_at,
        case when event_type = 'add_to_cart' then event_at end as carted_at,
        staged_at
    from events

    {% if folds %}

        union all

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
            first_carted_after_view_at,
            staged_at
        from known

        union all

        select
            known.session_id,
            null as event_id,
            null as user_id,
            null as first_event_at,
            null as last_event_at,
            0 as events,
            0 as views,
            0 as add_to_carts,
            0 as purchases,
            null as viewed_at,
            null as purchased_at,
            cart.value::timestamptz as carted_at,
            null as staged_at
        from known
        cross join lateral jsonb_array_elements_text(known.carts_before_view) as cart

    {% endif %}

),

viewed as (

    select
        parts.*,
        min(parts.viewed_at) over (partition by parts.session_id) as session_viewed_at
    from parts

),

aggregated as (

    select
        session_id,
        -- the first event (ties: the smallest event_id) and its user
        (array_agg(event_id order by first_event_at asc, event_id asc))[1] as first_event_id,
        (array_agg(user_id order by first_event_at asc, event_id asc))[1] as user_id,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        sum(events)::bigint as events,
        sum(views)::bigint as views,
        sum(add_to_carts)::bigint as add_to_carts,
        sum(purchases)::bigint as purchases,
        min(viewed_at) as first_viewed_at,
        min(carted_at) filter (where carted_at >= session_viewed_at) as first_carted_after_view_at,
        max(purchased_at) as last_purchased_at,
        coalesce(
            jsonb_agg(carted_at order by carted_at) filter (
                where carted_at < session_viewed_at or session_viewed_at is null
            ),
            '[]'
        ) as carts_before_view,
        max(staged_at) as staged_at
    from viewed
    group by session_id

),

final as (

    select
        session_id,
        user_id,
        first_event_id,
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
        carts_before_view,
        staged_at
    from aggregated

)

select * from final
