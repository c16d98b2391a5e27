-- Record-level export of the reports users contributed (ODbL). Quasi-
-- identifiers: creation week, département, category. Rare combinations first
-- lose their département ("autres"), then rows still in a group smaller than k
-- are suppressed. Ids are drawn anew at each release, so releases cannot be
-- linked.
{% set quasi_identifiers = ['created_week', 'departement_code', 'category_label'] %}
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
        {{ recode_small_groups(
            'departement_code', quasi_identifiers, k, "'autres'"
        ) }} as departement_code
    from reports
),

k_anonymous as (
    {{ suppress_small_groups('recoded', quasi_identifiers, k) }}
),

final as (
    select
        {{ release_scoped_id() }} as signalement_id,
        created_week as semaine_creation,
        departement_code,
        category_label as categorie,
        report_status as statut
    from k_anonymous
)

select * from final
