{#- The end (exclusive) of the released ISO week, as a timestamptz: Monday 00:00, in the publishing zone
    (vars.service.timezone), of the week after `release_week`. Rows at or after it belong to a later release and
    are never read (compare a naive column with before_release_week_end(), which reads it in the source zone). -#}
{% macro release_week_end() -%}
    {%- set week = var('release_week') -%}
    {%- set zone = commons_privacy.publishing_timezone() -%}
    {%- if week -%}
        (('{{ week }}'::date + 7)::timestamp at time zone '{{ zone }}')
    {%- else -%}
        (date_trunc('week', now() at time zone '{{ zone }}')
            at time zone '{{ zone }}')
    {%- endif -%}
{%- endmacro %}

{#- The ISO week label (2026-W47) of a timestamp of either kind, in the publishing zone (as to_iso_week). -#}
{% macro iso_week_label(ts, source_timezone=none) -%}
    {{ commons_privacy.to_iso_week(ts, source_timezone) }}
{%- endmacro %}
