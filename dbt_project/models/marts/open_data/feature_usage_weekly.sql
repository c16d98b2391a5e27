-- Usage of each declared feature per ISO week (Licence Ouverte), from two
-- sources: the service's own events (`service`) and Matomo (`matomo`).
-- Events, visits (distinct sessions) and distinct visitors, plus a « total »
-- row per week and source. Counts under k are published empty (secret
-- statistique), never rounded; as the total row would give a lone
-- suppressed event count away by difference, secondary suppression hides one
-- more cell in such weeks, within each source.
-- Frozen weeks: a week already published (found in the ledger) is published
-- again as it was; only the other weeks are computed, so late events for a
-- published week are ignored.
{% set k = var('k_anonymity') %}

with

service as (
    select * from {{ ref('int_events__counted_by_week') }}
),

matomo as (
    select * from {{ ref('int_matomo__mapped_to_features') }}
),

published as (
    select * from {{ ref('stg_ledger__published_feature_usage') }}
),

-- counted incrementally, week by week (int_events__counted_by_week); a
-- release of an earlier week reads only the weeks up to it
service_counts as (
    select
        event_week,
        'service' as source,  -- noqa: RF04
        feature_code,
        feature_label,
        event_count,
        visit_count,
        visitor_count
    from service
    where
        week_start
        < (
            {{ commons_privacy.release_week_end() }}
            at time zone '{{ commons_privacy.publishing_timezone() }}'
        )
),

matomo_counts as (
    select
        event_week,
        'matomo' as source,  -- noqa: RF04
        feature_code,
        feature_label,
        event_count,
        visit_count,
        -- null when Matomo does not count distinct visitors for a week:
        -- published empty, never estimated
        visitor_count
    from matomo
),

counted as (
    select * from service_counts
    union all
    select * from matomo_counts
),

events_suppressed as (
    {{ commons_privacy.secondary_suppression(
        'counted',
        ['event_week', 'source', 'feature_code', 'feature_label',
         'visit_count', 'visitor_count'],
        'event_count',
        ['event_week', 'source'],
        'feature_code',
        'total',
        k
    ) }}
),

computed as (
    select
        event_week as semaine,
        source,
        feature_code as fonctionnalite,
        feature_label as libelle_fonctionnalite,
        event_count as nombre_evenements,
        {{ commons_privacy.suppress_small_count('visit_count', k) }}
            as nombre_visites,
        {{ commons_privacy.suppress_small_count('visitor_count', k) }}
            as nombre_visiteurs
    from events_suppressed
),

frozen_weeks as (
    select distinct semaine from published
),

fresh as (
    select computed.*
    from computed
    left join frozen_weeks
        on computed.semaine = frozen_weeks.semaine
    where frozen_weeks.semaine is null
),

final as (
    select
        semaine,
        source,
        fonctionnalite,
        libelle_fonctionnalite,
        nombre_evenements,
        nombre_visites,
        nombre_visiteurs
    from fresh
    union all
    select
        semaine,
        source,
        fonctionnalite,
        libelle_fonctionnalite,
        nombre_evenements,
        nombre_visites,
        nombre_visiteurs
    from published
)

select * from final
