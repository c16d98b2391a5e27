-- User cohorts as the last release published them, up to the released week:
-- user_cohorts_weekly republishes these weeks as they are (frozen weeks) and
-- computes only the later ones.
with

published as (
    select * from {{ source('ledger', 'published__cohortes_usagers') }}
),

final as (
    select
        semaine_inscription,
        tranche_age,
        departement_code,
        nombre_usagers,
        published_in_week
    from published
    where semaine_inscription <= {{ commons_privacy.release_week_label() }}
)

select * from final
