-- Record-level export of the reports users contributed (ODbL).
-- Quasi-identifiers: creation week, département, category; the creation week
-- being one, the reports added between two releases form groups of their own,
-- at least k strong, and cannot be singled out by comparing releases. Rare
-- combinations first lose their département ("autres"), then rows still in a
-- group smaller than k are suppressed. The status is published only where it
-- differs within the group (l-diversity). Ids are drawn anew at each release.
-- Frozen weeks (no subtraction attack): the weeks a release already published
-- are published again exactly as they were (the ledger's copy, without ids),
-- only the later weeks are computed. A report deleted, back-dated into a
-- published week or whose status changed after its week was published can
-- therefore not be singled out by comparing two releases; the price is that
-- a published week keeps the statuses it was first published with. The gate's
-- subtraction rule blocks a release in which a published week moved anyway.
{% set quasi_identifiers = [
    'created_week', 'departement_code', 'category_label'
] %}
{% set k = var('k_anonymity') %}

with

reports as (
    select * from {{ ref('int_reports__generalised') }}
),

published as (
    select * from {{ ref('stg_ledger__published_reports') }}
),

recoded as (
    select
        report_id,
        created_week,
        category_label,
        report_status,
        {{ commons_privacy.recode_small_groups(
            'departement_code', quasi_identifiers, k, "'autres'"
        ) }} as departement_code
    from reports
),

k_anonymous as (
    {{ commons_privacy.suppress_small_groups('recoded', quasi_identifiers, k) }}
),

diverse as (
    select
        created_week,
        departement_code,
        category_label,
        {{ commons_privacy.l_diversify('report_status', quasi_identifiers) }}
            as report_status
    from k_anonymous
),

-- only the weeks no release has published yet: the others are frozen
fresh as (
    select diverse.*
    from diverse
    where {{ commons_privacy.not_frozen('published', 'diverse.created_week') }}
),

frozen as (
    select
        semaine_creation as created_week,
        departement_code,
        categorie as category_label,
        statut as report_status
    from published
),

combined as (
    select
        created_week,
        departement_code,
        category_label,
        report_status
    from fresh
    union all
    select
        created_week,
        departement_code,
        category_label,
        report_status
    from frozen
),

final as (
    select
        {{ commons_privacy.release_scoped_id() }} as signalement_id,
        created_week as semaine_creation,
        departement_code,
        category_label as categorie,
        report_status as statut
    from combined
)

select * from final
