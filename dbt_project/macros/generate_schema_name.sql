{#- dbt only honours this macro in the root project: the rule lives in the commons_privacy package. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ return(commons_privacy.layer_schema_name(custom_schema_name, node)) }}
{%- endmacro %}
