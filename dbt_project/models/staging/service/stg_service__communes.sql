with

source as (
    select * from {{ source('service', 'communes') }}
),

final as (
    select
        commune_code,
        name as commune_name,
        postcode,
        departement_code,
        population
    from source
)

select * from final
