{#- The end (exclusive) of the released ISO week, as a timestamptz: Monday 00:00 Europe/Paris of the week
    after `release_week`. Rows at or after it belong to a later release and are never read. -#}
{% macro release_week_end() -%}
    {%- set week = var('release_week') -%}
    {%- if week -%}
        (('{{ week }}'::date + 7)::timestamp at time zone 'Europe/Paris')
    {%- else -%}
        (date_trunc('week', now() at time zone 'Europe/Paris')
            at time zone 'Europe/Paris')
    {%- endif -%}
{%- endmacro %}

{#- The ISO week label (2026-W47) of a timestamptz, in Europe/Paris. -#}
{% macro iso_week_label(ts) -%}
    to_char({{ ts }} at time zone 'Europe/Paris', 'IYYY-"W"IW')
{%- endmacro %}

