-- The many-to-many table between appointments and motives.
with

source as (
    select * from {{ source('rdv', 'appointment_motives') }}
),

final as (
    select
        appointment_id,
        motive_id
    from source
)

select * from final
