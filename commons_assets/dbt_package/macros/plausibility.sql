{#- The service's declared life span, for the plausibility tests (tests/generic/plausible.sql). -#}

{#- The first day the service can have data: `vars.service_life_start` (YYYY-MM-DD) when declared, else the
    day before the Monday of `vars.service.first_week` (the first week of data, where the weekly partitions
    start; a day of slack since a Monday 00:00 in the publishing zone is still Sunday in UTC, and the date of a
    timestamp depends on the session's zone). Neither: a compile error naming both, since « plausible » means
    nothing without the service's declared life span. -#}
{% macro service_life_start() -%}
    {%- set first_week = (var('service', {}) or {}).get('first_week') -%}
    {%- if var('service_life_start', none) -%}
        '{{ var("service_life_start") }}'::date
    {%- elif first_week -%}
        (to_date('{{ first_week }}', 'IYYY-"W"IW') - 1)
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "commons_privacy plausibility tests need the service's life span: declare vars.service_life_start "
            ~ "(YYYY-MM-DD) or vars.service.first_week (e.g. 2024-W01) in dbt_project.yml") }}
    {%- endif -%}
{%- endmacro %}

{#- The end (exclusive) of what the service can have recorded: the day after today (COMMONS_TODAY, else the
    warehouse's clock, in the service's time zone), plus `tolerance_days` for clocks that run ahead. Not the
    released week's end: the source rightly holds rows of weeks not released yet. -#}
{% macro service_life_end(tolerance_days=1) -%}
    {%- set timezone = (var('service', {}) or {}).get('timezone') or 'Europe/Paris' -%}
    {%- set today = env_var('COMMONS_TODAY', '') -%}
    {%- if today -%}
        ('{{ today }}'::date + {{ 1 + tolerance_days }})
    {%- else -%}
        ((now() at time zone '{{ timezone }}')::date + {{ 1 + tolerance_days }})
    {%- endif -%}
{%- endmacro %}
