-- Direct identifiers (email, names, phone, street address, signup IP) are never
-- selected.
with

source as (
    select * from {{ source('service', 'users') }}
),

final as (
    select
        user_id,
        birth_date,
        commune_code,
        created_at
    from source
    where created_at < {{ commons_privacy.release_week_end() }}
)

select * from final
