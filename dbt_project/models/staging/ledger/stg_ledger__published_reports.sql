-- Reports as the last release published them (release ids left out), up to
-- the released week: reports_anonymised republishes these weeks as they are
-- (frozen weeks) and computes only the later ones.
with

published as (
    select * from {{ source('ledger', 'published__signalements') }}
),

final as (
    select
        semaine_creation,
        departement_code,
        categorie,
        statut,
        published_in_week
    from published
    where semaine_creation <= {{ commons_privacy.release_week_label() }}
)

select * from final
