{#- Generalisation of quasi-identifiers (REDTEAM.md: week for event dates, 5-year age bands top-coded at 90,
    département for places, coordinates to at most 2 decimals ≈ 1.1 km). -#}

{#- Week, month and year of a timestamp of either kind (timestamptz, or naive in vars.service.source_timezone,
    see timezones.sql), in the publishing zone (vars.service.timezone): Sunday 23:30 UTC is Monday in Paris. -#}
{% macro to_iso_week(ts, source_timezone=none) -%}
    to_char({{ commons_privacy.to_local_timestamp(ts, source_timezone) }}, 'IYYY-"W"IW')
{%- endmacro %}

{% macro to_month(ts, source_timezone=none) -%}
    to_char({{ commons_privacy.to_local_timestamp(ts, source_timezone) }}, 'YYYY-MM')
{%- endmacro %}

{% macro to_year(ts, source_timezone=none) -%}
    to_char({{ commons_privacy.to_local_timestamp(ts, source_timezone) }}, 'YYYY')
{%- endmacro %}

{#- A 5-year age band ("30-34") at `reference_date`, top-coded: every age from `top` up is "90+", because a
    few very old people are easy to single out. -#}
{% macro age_band(birth_date, reference_date, width=5, top=90) -%}
    case
        when {{ birth_date }} is null then null
        when extract(year from age({{ reference_date }}, {{ birth_date }})) >= {{ top }}
            then '{{ top }}+'
        else
            (floor(extract(year from age({{ reference_date }}, {{ birth_date }}))
                / {{ width }}) * {{ width }})::int::text
            || '-'
            || ((floor(extract(year from age({{ reference_date }}, {{ birth_date }}))
                / {{ width }}) * {{ width }}) + {{ width }} - 1)::int::text
    end
{%- endmacro %}

{#- Département of an INSEE commune code: 3 characters overseas (971…976), else 2 (2A/2B for Corsica). -#}
{% macro commune_to_departement(commune_code) -%}
    case
        when {{ commune_code }} like '97%' then left({{ commune_code }}, 3)
        else left({{ commune_code }}, 2)
    end
{%- endmacro %}

{#- Département of a postcode: Corsica shares 20xxx (200/201 → 2A, else 2B); overseas use 3 digits. -#}
{% macro postcode_to_departement(postcode) -%}
    case
        when {{ postcode }} like '97%' then left({{ postcode }}, 3)
        when {{ postcode }} like '200%' or {{ postcode }} like '201%' then '2A'
        when {{ postcode }} like '20%' then '2B'
        else left({{ postcode }}, 2)
    end
{%- endmacro %}

{#- Coordinates rounded to at most `decimals` places; 3 decimals (≈ 110 m) would locate a home. -#}
{% macro round_coordinate(value, decimals=2) -%}
    round(({{ value }})::numeric, {{ [decimals, 2] | min }})
{%- endmacro %}
