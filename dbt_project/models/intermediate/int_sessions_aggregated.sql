{#-
    One row per session, from all its staged events. A view: no mart reads
    it (the daily facts count sessions themselves, macros/days.sql), so it
    costs nothing until somebody queries it. See dbt_project/README.md.
-#}
{{ config(materialized='view') }}

{{ sessions_aggregated(ref('stg_ecommerce__events')) }}
