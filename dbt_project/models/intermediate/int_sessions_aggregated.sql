{#-
    One row per session, from all its staged events. A view: no mart reads
    it (the daily facts count sessions themselves, macros/days.sql), so it
    costs nothing until somebody queries it. See dbt_project/README.md. The
    definition is sessions_aggregated() (macros/days.sql), which a
    reconciliation test reads too (tests/reconcile).
-#}
{{ config(materialized='view') }}

{{ sessions_aggregated(ref('stg_ecommerce__events')) }}
