-- Record-level export of the appointments (Licence Ouverte): one row per
-- appointment, with a random id drawn anew at each release. The groups were
-- made k-anonymous in people upstream (int_appointments__k_anonymised); the
-- status is published only where it differs within the group (l-diversity).
{% set quasi_identifiers = [
    'appointment_week', 'departement_code', 'age_band'
] %}

with

appointments as (
    select * from {{ ref('int_appointments__k_anonymised') }}
),

diverse as (
    select
        appointment_week,
        departement_code,
        age_band,
        {{ commons_privacy.l_diversify(
            'appointment_status', quasi_identifiers
        ) }} as appointment_status
    from appointments
),

final as (
    select
        {{ commons_privacy.release_scoped_id() }} as rendez_vous_id,
        appointment_week as semaine_rendez_vous,
        departement_code,
        age_band as tranche_age,
        appointment_status as statut
    from diverse
)

select * from final
