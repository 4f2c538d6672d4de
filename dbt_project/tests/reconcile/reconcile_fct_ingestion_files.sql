-- depends_on: {{ ref('stg_ecommerce__events') }}
-- fct_ingestion_files per delivery against the file ledger (a table rebuilt
-- whole by every run, from one ledger row per delivery). The stream goes on
-- claiming and finishing files during and after the run: the ledger rows last
-- written before what the run saw (ledger_horizon()) are compared, and every
-- mart row but those of later writes. Returns the rows that disagree, from
-- either side.
with

seen as (

    select delivery_id from {{ source('ecommerce', 'ingestion_files') }}
    where xact_id < {{ ledger_horizon() }}

),

unseen as (

    select delivery_id from {{ source('ecommerce', 'ingestion_files') }}
    where xact_id >= {{ ledger_horizon() }}

),

expected as (

    select * from {{ ref('stg_ecommerce__ingestion_files') }}
    where delivery_id in (select seen.delivery_id from seen)

),

selected as (

    select * from {{ ref('fct_ingestion_files') }}
    where delivery_id not in (select unseen.delivery_id from unseen)

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
