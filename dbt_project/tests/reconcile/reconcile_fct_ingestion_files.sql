-- fct_ingestion_files per delivery against the file ledger (a table rebuilt
-- whole by every run, from one ledger row per delivery). The stream goes on
-- claiming and finishing files after the run: the deliveries finished up to
-- the mart's newest completion are compared, the rest are left to the next
-- run. Returns the rows that disagree, from either side.
with

mart as (

    select * from {{ ref('fct_ingestion_files') }}

),

horizon as (

    select max(completed_at) as completed_at from mart

),

expected as (

    select * from {{ ref('stg_ecommerce__ingestion_files') }}
    where completed_at <= (select horizon.completed_at from horizon)

),

selected as (

    select * from mart
    where completed_at <= (select horizon.completed_at from horizon)

),

final as (

    {{ disagreements(
        'expected', 'selected', ['delivery_id'],
        ['source_file', 'delivery_status', 'quarantine_reason', 'size_bytes', 'sha256',
         'part_count', 'rows_in', 'rows_loaded', 'rows_rejected', 'file_modified_at',
         'claimed_at', 'completed_at']
    ) }}

)

select * from final
