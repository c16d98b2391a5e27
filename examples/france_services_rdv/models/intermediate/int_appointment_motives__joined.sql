-- One row per appointment and motive (the many-to-many table): an appointment
-- for two motives counts once in each. The person key stays, so that a cell
-- counts the people behind it, never published.
with

appointments as (
    select * from {{ ref('int_appointments__generalised') }}
),

appointment_motives as (
    select * from {{ ref('stg_rdv__appointment_motives') }}
),

motives as (
    select * from {{ ref('stg_rdv__motives') }}
),

final as (
    select
        appointments.appointment_id,
        appointments.user_id,
        appointments.appointment_week,
        appointments.departement_code,
        motives.motive_name
    from appointments
    inner join appointment_motives
        on appointments.appointment_id = appointment_motives.appointment_id
    inner join motives
        on appointment_motives.motive_id = motives.motive_id
)

select * from final
