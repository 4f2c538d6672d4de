-- dim_users per user against all the user's staged events (through the index
-- on user_id): the users of the events staged since reconcile_since() and the
-- rows written since then. Returns the rows that disagree, from either side.
{%- set since = reconcile_since() %}

with

mart as (

    select * from {{ ref('dim_users') }}

),

changed_users as (

    select user_id from {{ ref('stg_ecommerce__events') }}
    where staged_at >= {{ since }}

    union

    select user_id from mart
    where staged_at >= {{ since }}

),

expected as (

    select
        user_id,
        -- the name on the latest event (ties: the greater name)
        (array_agg(user_name order by event_at desc, user_name desc))[1] as user_name,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        count(*) as events,
        count(*) filter (where event_type = 'purchase') as orders,
        coalesce(sum(unit_price * quantity) filter (where event_type = 'purchase'), 0) as revenue
    from {{ ref('stg_ecommerce__events') }}
    where user_id in (select changed_users.user_id from changed_users)
    group by user_id

),

selected as (

    select * from mart
    where user_id in (select changed_users.user_id from changed_users)

),

final as (

    {{ disagreements(
        'expected', 'selected', ['user_id'],
        ['user_name', 'first_seen_at', 'last_seen_at', 'events', 'orders', 'revenue']
    ) }}

)

select * from final
