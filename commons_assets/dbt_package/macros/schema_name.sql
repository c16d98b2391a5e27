{#- Layers land in <target schema>_<layer> (commons_staging, commons_open_data…), so that a second
    deployment with another COMMONS_DBT_SCHEMA never writes over the first. dbt only honours a
    `generate_schema_name` of the root project, so each project's own macro calls this one: the rule has
    one home, here (commons_assets/scaffold.py writes that root macro, the same as the demo's). -#}
{% macro layer_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ return(target.schema) }}
    {%- else -%}
        {{ return(target.schema ~ '_' ~ (custom_schema_name | trim)) }}
    {%- endif -%}
{%- endmacro %}
