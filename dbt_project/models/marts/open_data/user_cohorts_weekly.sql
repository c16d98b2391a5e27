-- Number of users by signup week, age band at signup and département (Licence
-- Ouverte). Rare départements are pooled into "autres" within their week and
-- age band; cells still under k are not published.
-- Frozen weeks (no subtraction attack): the signup weeks a release already
-- published are published again exactly as they were (the ledger's copy), only
-- the later weeks are counted, so a deleted account or a late signup can never
-- move a published cell by a handful of people between two releases.
{% set cells = ['signup_week', 'age_band', 'departement_code'] %}
{% set k = var('k_anonymity') %}

with

users as (
    select * from {{ ref('int_users__generalised') }}
),

published as (
    select * from {{ ref('stg_ledger__published_user_cohorts') }}
),

recoded as (
    select
        signup_week,
        age_band,
        {{ commons_privacy.recode_small_groups(
            'departement_code', cells, k, "'autres'"
        ) }}
            as departement_code
    from users
),

counted as (
    select
        signup_week,
        age_band,
        departement_code,
        count(*) as user_count
    from recoded
    group by signup_week, age_band, departement_code
),

fresh as (
    select
        counted.signup_week as semaine_inscription,
        counted.age_band as tranche_age,
        counted.departement_code,
        counted.user_count as nombre_usagers
    from counted
    where
        counted.user_count >= {{ k }}
        -- only the weeks no release has published yet: the others are frozen
        and {{ commons_privacy.not_frozen('published', 'counted.signup_week') }}
),

final as (
    select
        semaine_inscription,
        tranche_age,
        departement_code,
        nombre_usagers
    from fresh
    union all
    select
        semaine_inscription,
        tranche_age,
        departement_code,
        nombre_usagers
    from published
)

select * from final
