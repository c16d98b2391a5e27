{#- The ISO week label (2026-W47) of the released week: `release_week` (its
    Monday) when given, else the last complete week, as release_week_end()
    has it. Weeks compare as text: '2026-W46' < '2026-W47' < '2027-W01'. -#}
{% macro release_week_label() -%}
    {%- set week = var('release_week') -%}
    {%- if week -%}
        to_char('{{ week }}'::date, 'IYYY-"W"IW')
    {%- else -%}
        {{ commons_privacy.to_iso_week(commons_privacy.release_week_end() ~ " - interval '1 day'") }}
    {%- endif -%}
{%- endmacro %}
