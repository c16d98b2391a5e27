{#- Layers land in <target schema>_<layer> (commons_staging, commons_open_data…), so that a second
    deployment with another COMMONS_DBT_SCHEMA never writes over the first. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
