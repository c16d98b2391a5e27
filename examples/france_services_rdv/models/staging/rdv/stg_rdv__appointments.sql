-- The application stores naive UTC timestamps (timestamp without time zone):
-- they stay as they are; the privacy macros read them in
-- vars.service.source_timezone. The agent's notes are never selected.
with

source as (
    select * from {{ source('rdv', 'appointments') }}
),

final as (
    select
        id as appointment_id,
        user_id,
        structure_id,
        starts_at,
        status as appointment_status
    from source
)

select * from final
