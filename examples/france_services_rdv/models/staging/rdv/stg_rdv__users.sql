-- Direct identifiers (e-mail, phone, names, address) are never selected.
with

source as (
    select * from {{ source('rdv', 'users') }}
),

final as (
    select
        id as user_id,
        birth_date
    from source
)

select * from final
