-- Only the commune of each counter is read: its name, address, phone and
-- e-mail are of no use here.
with

source as (
    select * from {{ source('annuaire', 'structures') }}
),

final as (
    select
        id as structure_id,
        commune_code
    from source
)

select * from final
