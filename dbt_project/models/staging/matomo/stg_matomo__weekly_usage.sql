-- Matomo's weekly reports up to the released week. Labels are kept for the
-- mapping to the feature catalogue only: they may carry personal data (an
-- e-mail in a URL, an address typed in a search) and are never published.
with

source as (
    select * from {{ source('matomo', 'matomo_weekly_usage') }}
),

final as (
    select
        week,
        label_kind,
        label,
        nb_events,
        nb_visits,
        nb_uniq_visitors
    from source
    where week <= {{ commons_privacy.release_week_label() }}
)

select * from final
