{#-
    Quarantined input lines per UTC day and reason. A line with several
    reasons counts once under each of them. A table: rejects are few.
-#}
with

rejected as (

    select * from {{ ref('stg_ecommerce__events_rejected') }}

),

reasons as (

    select
        {{ utc_date('rejected.rejected_at') }} as rejected_date,
        reason.value as reason
    from rejected
    cross join lateral unnest(rejected.rejection_reasons) as reason (value)

),

final as (

    select
        rejected_date,
        reason,
        count(*)::bigint as rejected_lines
    from reasons
    group by rejected_date, reason

)

select * from final
