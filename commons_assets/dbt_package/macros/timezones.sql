{#- Time zones, declared once in the service's dbt_project.yml:
    - vars.service.timezone (default Europe/Paris): the zone of the published ISO weeks, months and years,
      and of the release window (a week is Monday 00:00 to Monday 00:00 there);
    - vars.service.source_timezone (default UTC): the zone in which the source stores naive timestamps
      (`timestamp without time zone`: Rails and Django store naive UTC). A timestamptz carries its own.
    Every macro below takes a timestamp of either kind and never depends on the session's TimeZone. -#}

{% macro publishing_timezone() -%}
    {{- return(((var('service', none) or {}).get('timezone') or 'Europe/Paris') | replace("'", "''")) -}}
{%- endmacro %}

{% macro source_timezone() -%}
    {{- return(((var('service', none) or {}).get('source_timezone') or 'UTC') | replace("'", "''")) -}}
{%- endmacro %}

{#- The instant (timestamptz) a timestamp of either kind stands for: a naive timestamp is read in the source
    time zone (`source_timezone` overrides the project's for one call, e.g. a second source in another zone),
    a timestamptz is left as it is, a date is midnight in the publishing zone (its day never moves). The
    type is tested in SQL (pg_typeof), as a macro cannot know the type of an expression. -#}
{% macro to_timestamptz(ts, source_timezone=none) -%}
    {%- set zone = (source_timezone | replace("'", "''")) if source_timezone
        else commons_privacy.source_timezone() -%}
    (case pg_typeof({{ ts }})::text
        when 'timestamp without time zone'
            then ({{ ts }})::timestamp at time zone '{{ zone }}'
        when 'date'
            then ({{ ts }})::date::timestamp
                at time zone '{{ commons_privacy.publishing_timezone() }}'
        else ({{ ts }})::timestamptz
    end)
{%- endmacro %}

{#- The wall-clock time (a naive timestamp) of a timestamp of either kind in the publishing zone. -#}
{% macro to_local_timestamp(ts, source_timezone=none) -%}
    ({{ commons_privacy.to_timestamptz(ts, source_timezone) }}
        at time zone '{{ commons_privacy.publishing_timezone() }}')
{%- endmacro %}

{#- The calendar day of a timestamp of either kind in the publishing zone. -#}
{% macro to_local_date(ts, source_timezone=none) -%}
    ({{ commons_privacy.to_local_timestamp(ts, source_timezone) }})::date
{%- endmacro %}

{#- True when a timestamp of either kind falls before the end of the released week: what a staging model
    keeps. (On a timestamptz column, `col < release_week_end()` says the same and can use an index.) -#}
{% macro before_release_week_end(ts, source_timezone=none) -%}
    ({{ commons_privacy.to_timestamptz(ts, source_timezone) }} < {{ commons_privacy.release_week_end() }})
{%- endmacro %}
