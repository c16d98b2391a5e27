{#- Our own unique_combination_of_columns (as in dbt_utils): the dbt package hub is out of reach here. -#}
{% test unique_combination_of_columns(model, columns) %}

select {{ columns | join(', ') }}
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
