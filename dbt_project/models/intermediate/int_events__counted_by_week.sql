-- The service's events counted per ISO week and feature, plus a « total »
-- row per week: events, visits (distinct sessions) and distinct visitors.
-- The heavy part of the usage statistics (distinct counts over tens of
-- millions of events), hence incremental: a weekly run reads only the weeks
-- from the last one already counted (recounted, as events can arrive late)
-- onwards. Older weeks stay as counted; a published week is frozen anyway
-- (feature_usage_weekly), and `dbt build --full-refresh` recounts them all.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_week',
        on_schema_change='fail'
    )
}}

with

events as (
    select * from {{ ref('int_events__mapped_to_features') }}
    {% if is_incremental() %}
        -- a filter on the raw timestamp: PostgreSQL pushes it down to the
        -- source scan (or its index), before any week label is computed
        where occurred_at >= (
            select coalesce(max(counted.week_start), '-infinity'::timestamp)
            from {{ this }} as counted
        ) at time zone '{{ commons_privacy.publishing_timezone() }}'
    {% endif %}
),

-- one pass over the events for both grains: GROUPING SETS instead of two
-- scans, one per feature and one for the week's total
counted as (
    select
        event_week,
        feature_code,
        feature_label,
        grouping(feature_code) as is_total,
        count(*) as event_count,
        count(distinct session_id) as visit_count,
        count(distinct visitor_id) as visitor_count
    from events
    group by grouping sets (
        (event_week, feature_code, feature_label),
        (event_week)
    )
),

final as (
    select
        event_week,
        -- Monday 00:00 of the week, local time: what the next run starts from
        to_date(event_week, 'IYYY-"W"IW')::timestamp as week_start,
        case
            when is_total = 1 then 'total' else feature_code
        end as feature_code,
        case
            when is_total = 1 then 'Toutes fonctionnalités' else feature_label
        end as feature_label,
        event_count,
        visit_count,
        visitor_count
    from counted
)

select * from final
