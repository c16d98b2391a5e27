-- One row per user with quasi-identifiers generalised: signup week, 5-year age
-- band at signup (frozen, so a user never moves between published cells from
-- one release to the next), département.
with

users as (
    select * from {{ ref('stg_service__users') }}
),

final as (
    select
        user_id,
        {{ commons_privacy.to_iso_week('created_at') }} as signup_week,
        {{ commons_privacy.age_band(
            'birth_date',
            commons_privacy.to_local_date('created_at')
        ) }} as age_band,
        {{ commons_privacy.commune_to_departement('commune_code') }}
            as departement_code
    from users
)

select * from final
