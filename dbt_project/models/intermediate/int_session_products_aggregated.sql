{#-
    One row per (session, product) the session had events for, from all the
    session's staged events. A view, like int_sessions_aggregated: no mart
    reads it. See dbt_project/README.md.
-#}
{{ config(materialized='view') }}

{{ session_products_aggregated(ref('stg_ecommerce__events')) }}
