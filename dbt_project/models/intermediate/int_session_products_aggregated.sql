{#-
    One row per (session, product) the session had events for, from all the
    session's staged events. A view, like int_sessions_aggregated: no mart
    reads it. See dbt_project/README.md. The definition is
    session_products_aggregated() (macros/days.sql), which a reconciliation
    test reads too (tests/reconcile).
-#}
{{ config(materialized='view') }}

{{ session_products_aggregated(ref('stg_ecommerce__events')) }}
