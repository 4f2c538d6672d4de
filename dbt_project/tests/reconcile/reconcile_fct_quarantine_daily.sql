-- fct_quarantine_daily per UTC day and reason against the staged rejects (a
-- table rebuilt whole by every run; rejects are few). Returns the rows that
-- disagree, from either side.
with

expected as (

    select
        {{ utc_date('rejected.rejected_at') }} as rejected_date,
        reason.value as reason,
        count(*) as rejected_lines
    from {{ ref('stg_ecommerce__events_rejected') }} as rejected
    cross join lateral unnest(rejected.rejection_reasons) as reason (value)
    group by {{ utc_date('rejected.rejected_at') }}, reason.value

),

final as (

    {{ disagreements(
        'expected', ref('fct_quarantine_daily'), ['rejected_date', 'reason'], ['rejected_lines']
    ) }}

)

select * from final
