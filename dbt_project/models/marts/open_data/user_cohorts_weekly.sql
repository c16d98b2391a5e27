-- Number of users by signup week, age band at signup and département (Licence
-- Ouverte). Rare départements are pooled into "autres" within their week and
-- age band; cells still under k are not published.
{% set cells = ['signup_week', 'age_band', 'departement_code'] %}
{% set k = var('k_anonymity') %}

with

users as (
    select * from {{ ref('int_users__generalised') }}
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

final as (
    select
        signup_week as semaine_inscription,
        age_band as tranche_age,
        departement_code,
        user_count as nombre_usagers
    from counted
    where user_count >= {{ k }}
)

select * from final
