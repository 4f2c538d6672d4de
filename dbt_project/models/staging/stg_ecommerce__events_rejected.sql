with

source as (

    select * from {{ source('ecommerce', 'ecommerce_events_rejected') }}

),

final as (

    select
        source_file,
        line_number,
        batch_id,
        raw_line,
        reasons as rejection_reasons,
        rejected_at,
        cardinality(reasons) as rejection_reason_count
    from source

)

select * from final
