-- The appointments the record-level dataset publishes, with the person each
-- belongs to: k counts people, not appointments (person_key), since someone
-- who comes every week would otherwise make a group of eleven alone. Rare
-- combinations first lose their département ("autres"), then groups of fewer
-- than k people are suppressed. Never published: the gate reads the person key
-- here (meta.publish.person_key of rendez_vous_anonymised).
{% set quasi_identifiers = [
    'appointment_week', 'departement_code', 'age_band'
] %}
{% set k = var('k_anonymity') %}

with

appointments as (
    select * from {{ ref('int_appointments__generalised') }}
),

recoded as (
    select
        appointment_id,
        user_id,
        appointment_week,
        age_band,
        appointment_status,
        {{ commons_privacy.recode_small_groups(
            'departement_code', quasi_identifiers, k, "'autres'", 'user_id'
        ) }} as departement_code
    from appointments
),

k_anonymous as (
    {{ commons_privacy.suppress_small_groups(
        'recoded', quasi_identifiers, k, 'user_id'
    ) }}
),

final as (
    select
        appointment_id,
        user_id,
        appointment_week,
        departement_code,
        age_band,
        appointment_status
    from k_anonymous
)

select * from final
