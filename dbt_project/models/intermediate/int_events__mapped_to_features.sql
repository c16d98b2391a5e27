-- Each event mapped to a declared feature of the catalogue; any other name
-- counts as « autre » and is never published raw, since trackers record URLs
-- and junk that can carry personal data.
with

events as (
    select * from {{ ref('stg_service__events') }}
),

catalogue as (
    select * from {{ ref('feature_catalogue') }}
),

final as (
    select
        events.event_id,
        events.occurred_at,
        {{ commons_privacy.to_iso_week('events.occurred_at') }} as event_week,
        coalesce(catalogue.feature_code, 'autre') as feature_code,
        coalesce(catalogue.feature_label, 'Autre') as feature_label,
        events.visitor_id,
        events.session_id
    from events
    left join catalogue
        on events.event_name = catalogue.event_name
)

select * from final
