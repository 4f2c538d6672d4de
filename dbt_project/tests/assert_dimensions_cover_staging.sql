-- Every product and every user of the staged events has exactly one row in its
-- dimension, and no row is extra. Returns the dimension that disagrees.
with

staged as (

    select
        count(distinct product_id) as product_keys,
        count(distinct user_id) as user_keys
    from {{ ref('stg_ecommerce__events') }}

),

product_rows as (

    select count(*) as dimension_rows
    from {{ ref('dim_products') }}

),

user_rows as (

    select count(*) as dimension_rows
    from {{ ref('dim_users') }}

),

dimensions as (

    select
        'dim_products' as dimension,
        product_rows.dimension_rows,
        staged.product_keys as staged_keys
    from product_rows
    cross join staged

    union all

    select
        'dim_users' as dimension,
        user_rows.dimension_rows,
        staged.user_keys as staged_keys
    from user_rows
    cross join staged

),

final as (

    select * from dimensions
    where dimension_rows != staged_keys

)

select * from final
