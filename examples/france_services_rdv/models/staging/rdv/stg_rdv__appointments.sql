-- The application stores naive UTC timestamps (timestamp without time zone):
-- they become timestamptz here, once, so that every later model computes weeks
-- in Europe/Paris from the right instant. The agent's notes are never selected.
with

source as (
    select * from {{ source('rdv', 'appointments') }}
),

final as (
    select
        id as appointment_id,
        user_id,
        structure_id,
        starts_at at time zone 'UTC' as starts_at,
        status as appointment_status
    from source
)

select * from final
