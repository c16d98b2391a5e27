{#- Plausibility of the service's source data (REDTEAM.md 21). A value the service cannot have recorded (a
    report dated 1900 or 9999, a NULL or infinite timestamp, a birth date in the future) would be published as
    a week or an age band (« 1900-W01 », « -5--1 ») or silently dropped by a model's filter. These tests make it
    fail the build instead, naming the test, the table and the column: dbt build fails, the release is blocked
    (exit 2) and nothing is published. An analyst applies them in the sources yml, on the raw columns, before
    any model filter could hide a row:

        columns:
          - name: created_at
            data_tests: [commons_privacy.plausible_timestamp]
          - name: birth_date
            data_tests:
              - commons_privacy.plausible_birth_date:
                  arguments: {reference: created_at}

    The failing rows are counted, never shown: dbt prints the count, and no failure table is stored. -#}

{#- A timestamp (or date) the service can have recorded: not NULL (unless `allow_null`, e.g. a closing date of
    an open report), finite, within the service's life span (service_life_start() to service_life_end()). -#}
{% test plausible_timestamp(model, column_name, allow_null=false, tolerance_days=1) %}

{%- set timezone = (var('service', {}) or {}).get('timezone') or 'Europe/Paris' %}
select 1 as implausible
from {{ model }}
where
    {% if not allow_null -%} {{ column_name }} is null or {% endif -%}
    not isfinite({{ column_name }})
    or ({{ column_name }})::date < {{ commons_privacy.service_life_start() }}
    or ({{ column_name }})::date >= {{ commons_privacy.service_life_end(tolerance_days) }}

{% endtest %}

{#- A birth date giving an age of `min_age` to `max_age` years at `reference` (a date or timestamp column of the
    same table, e.g. the signup; default today): not in the future, not 121 years ago, finite. NULL passes
    unless `allow_null` is false (a service may not ask for it). -#}
{% test plausible_birth_date(model, column_name, reference=none, min_age=0, max_age=120, allow_null=true) %}

{%- set timezone = (var('service', {}) or {}).get('timezone') or 'Europe/Paris' %}
{%- set at = "(" ~ reference ~ " at time zone '" ~ timezone ~ "')::date" if reference
    else commons_privacy.service_life_end(0) ~ " - 1" %}
select 1 as implausible
from {{ model }}
where
    {% if not allow_null -%} {{ column_name }} is null or {% endif -%}
    not isfinite({{ column_name }})
    or extract(year from age({{ at }}, {{ column_name }})) < {{ min_age }}
    or extract(year from age({{ at }}, {{ column_name }})) > {{ max_age }}
    or {{ column_name }} > {{ at }}

{% endtest %}
