-- Great Expectations checkpoint runs over time (python -m expectations run records each one).
select
    run_at,
    checkpoint_name,
    success,
    successful_expectations,
    evaluated_expectations,
    failed_expectations,
    duration_seconds
from quality.checkpoint_runs
order by run_at desc, checkpoint_name
limit 50;
