-- Matomo's weekly counts per declared feature: an event action is mapped
-- through the feature catalogue (action label = catalogue event name), and
-- any other action counts as « autre », since trackers build actions from
-- what people type. The visits summary gives the week's « total ».
-- Page URLs and event categories are not published: URLs carry query
-- strings and ids (an e-mail in ?email=…) that no catalogue can vouch for,
-- and both count the same actions again under other labels.
with

usage as (
    select * from {{ ref('stg_matomo__weekly_usage') }}
),

catalogue as (
    select * from {{ ref('feature_catalogue') }}
),

actions as (
    select
        usage.week,
        usage.nb_events,
        usage.nb_visits,
        usage.nb_uniq_visitors,
        coalesce(catalogue.feature_code, 'autre') as feature_code,
        coalesce(catalogue.feature_label, 'Autre') as feature_label
    from usage
    left join catalogue
        on usage.label = catalogue.event_name
    where usage.label_kind = 'event_action'
),

per_feature as (
    select
        week as event_week,
        feature_code,
        feature_label,
        sum(nb_events)::bigint as event_count,
        -- visits and visitors of several actions do not add up (one visit
        -- may do both): known only where a single action makes the feature
        case when count(*) = 1 then max(nb_visits) end as visit_count,
        case when count(*) = 1 then max(nb_uniq_visitors) end as visitor_count
    from actions
    group by week, feature_code, feature_label
),

per_week as (
    select
        week as event_week,
        'total' as feature_code,
        'Toutes fonctionnalités' as feature_label,
        nb_events as event_count,
        nb_visits as visit_count,
        nb_uniq_visitors as visitor_count
    from usage
    where label_kind = 'visits_summary'
),

final as (
    select * from per_feature
    union all
    select * from per_week
)

select * from final
