{#- Fails with every row of the model for which `expression` is not true
    (false or null). -#}
{% test expression_is_true(model, expression) %}

    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)

{% endtest %}
