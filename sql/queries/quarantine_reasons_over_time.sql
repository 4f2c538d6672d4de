-- Quarantined input lines per day and reason: is bad input getting worse, and what kind?
select
    rejected_date,
    reason,
    rejected_lines,
    round(100 * rejected_lines / nullif(sum(rejected_lines) over (partition by rejected_date), 0), 1)
        as share_of_day_pct
from marts.fct_quarantine_daily
order by rejected_date, rejected_lines desc, reason;
