{#- Fails with one row per combination of `columns` that occurs more than
    once (a composite key that is not unique). Written here because the
    project uses no dbt packages. -#}
{% test unique_combination_of_columns(model, columns) %}

    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1

{% endtest %}
