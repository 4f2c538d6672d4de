-- Every product and every user of the staged events has exactly one row in its
-- dimension, and no row is extra. Returns the dimension that disagrees.
with

staged as (

    select
        count(distinct product_id) as products,
        count(distinct user_id) as users
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
        staged.products as staged_keys
    from product_rows
    cross join staged

    union all

    select
        'dim_users' as dimension,
        user_rows.dimension_rows,
        staged.users as staged_keys
    from user_rows
    cross join staged

),

final as (

    select * from dimensions
    where dimension_rows != staged_keys

)

select * from final
