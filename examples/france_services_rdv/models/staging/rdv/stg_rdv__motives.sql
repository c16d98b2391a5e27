with

source as (
    select * from {{ source('rdv', 'motives') }}
),

final as (
    select
        id as motive_id,
        name as motive_name
    from source
)

select * from final
