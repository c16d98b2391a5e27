-- Usage of each declared feature per ISO week (Licence Ouverte): events, visits
-- (distinct sessions) and distinct visitors. Counts under k are published empty
-- (secret statistique), never rounded.
{% set k = var('k_anonymity') %}

with

events as (
    select * from {{ ref('int_events__mapped_to_features') }}
),

counted as (
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

final as (
    select
        event_week as semaine,
        feature_code as fonctionnalite,
        feature_label as libelle_fonctionnalite,
        {{ suppress_small_count('event_count', k) }} as nombre_evenements,
        {{ suppress_small_count('visit_count', k) }} as nombre_visites,
        {{ suppress_small_count('visitor_count', k) }} as nombre_visiteurs
    from counted
)

select * from final
