-- Record-level export of the reports users contributed (ODbL).
-- Quasi-identifiers: creation week, département, category; the creation week
-- being one, the reports added between two releases form groups of their own,
-- at least k strong, and cannot be singled out by comparing releases. Rare
-- combinations first lose their département ("autres"), then rows still in a
-- group smaller than k are suppressed. The status is published only where it
-- differs within the group (l-diversity). Ids are drawn anew at each release.
{% set quasi_identifiers = [
    'created_week', 'departement_code', 'category_label'
] %}
{% set k = var('k_anonymity') %}

with

reports as (
    select * from {{ ref('int_reports__generalised') }}
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

final as (
    select
        {{ commons_privacy.release_scoped_id() }} as signalement_id,
        created_week as semaine_creation,
        departement_code,
        category_label as categorie,
        report_status as statut
    from diverse
)

select * from final
