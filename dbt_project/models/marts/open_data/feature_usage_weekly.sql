-- Usage of each declared feature per ISO week (Licence Ouverte): events, visits
-- (distinct sessions) and distinct visitors, plus a « total » row per week.
-- Counts under k are published empty (secret statistique), never rounded; as
-- the total row would give a lone suppressed event count away by difference,
-- secondary suppression hides one more cell in such weeks.
{% set k = var('k_anonymity') %}

with

events as (
    select * from {{ ref('int_events__mapped_to_features') }}
),

per_feature as (
    select
        event_week,
        feature_code,
        feature_label,
        count(*) as event_count,
        count(distinct session_id) as visit_count,
        count(distinct visitor_id) as visitor_count
    from events
    group by event_week, feature_code, feature_label
),

per_week as (
    select
        event_week,
        'total' as feature_code,
        'Toutes fonctionnalités' as feature_label,
        count(*) as event_count,
        count(distinct session_id) as visit_count,
        count(distinct visitor_id) as visitor_count
    from events
    group by event_week
),

counted as (
    select * from per_feature
    union all
    select * from per_week
),

events_suppressed as (
    {{ secondary_suppression(
        'counted',
        ['event_week', 'feature_code', 'feature_label', 'visit_count',
         'visitor_count'],
        'event_count',
        ['event_week'],
        'feature_code',
        'total',
        k
    ) }}
),

final as (
    select
        event_week as semaine,
        feature_code as fonctionnalite,
        feature_label as libelle_fonctionnalite,
        event_count as nombre_evenements,
        {{ suppress_small_count('visit_count', k) }} as nombre_visites,
        {{ suppress_small_count('visitor_count', k) }} as nombre_visiteurs
    from events_suppressed
)

select * from final
