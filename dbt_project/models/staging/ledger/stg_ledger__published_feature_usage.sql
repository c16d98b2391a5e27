-- Usage figures as first published (frozen weeks), up to the released week:
-- the mart republishes these weeks as they are and computes only the others.
with

published as (
    select * from {{ source('ledger', 'published_feature_usage') }}
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
    from published
    where semaine <= {{ commons_privacy.release_week_label() }}
)

select * from final
