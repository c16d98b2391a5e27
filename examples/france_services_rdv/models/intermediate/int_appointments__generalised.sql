-- One row per appointment up to the end of the released week, with its
-- quasi-identifiers generalised: ISO week (Europe/Paris), département of the
-- counter, ten-year age band of the person on the day (80 and over pooled).
-- The start time is naive UTC: the macros read it in the declared source zone.
with

appointments as (
    select * from {{ ref('stg_rdv__appointments') }}
),

users as (
    select * from {{ ref('stg_rdv__users') }}
),

structures as (
    select * from {{ ref('stg_annuaire__structures') }}
),

final as (
    select
        appointments.appointment_id,
        appointments.user_id,
        {{ commons_privacy.to_iso_week('appointments.starts_at') }}
            as appointment_week,
        {{ commons_privacy.commune_to_departement('structures.commune_code') }}
            as departement_code,
        {{ commons_privacy.age_band(
            'users.birth_date',
            commons_privacy.to_local_date('appointments.starts_at'),
            10,
            80
        ) }} as age_band,
        appointments.appointment_status
    from appointments
    inner join users
        on appointments.user_id = users.user_id
    inner join structures
        on appointments.structure_id = structures.structure_id
    where
        {{ commons_privacy.before_release_week_end('appointments.starts_at') }}
)

select * from final
