-- Data quality history: one row per Great Expectations checkpoint run
-- (python -m expectations run), written by ecom_auditor, so BI can chart
-- data quality over time. Idempotent.
create schema if not exists quality;

create table if not exists quality.checkpoint_runs (
    run_id bigint generated always as identity primary key,
    checkpoint_name text not null,
    success boolean not null,
    evaluated_expectations integer not null,
    successful_expectations integer not null,
    failed_expectations integer not null,
    run_at timestamptz not null,
    duration_seconds numeric(10,3) not null,
    -- one object per failed expectation: table, column, expectation_type, observed
    failures jsonb not null default '[]',
    constraint checkpoint_runs_counts_add_up
        check (evaluated_expectations = successful_expectations + failed_expectations),
    constraint checkpoint_runs_success_means_no_failure
        check (success = (failed_expectations = 0))
);

create index if not exists checkpoint_runs_checkpoint_run_at
    on quality.checkpoint_runs (checkpoint_name, run_at);

-- The auditor appends and reads; analysts read. Nobody else.
grant usage on schema quality to ecom_auditor, ecom_analyst;
grant select, insert on quality.checkpoint_runs to ecom_auditor;
grant select on quality.checkpoint_runs to ecom_analyst;
