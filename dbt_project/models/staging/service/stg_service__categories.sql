with

source as (
    select * from {{ source('service', 'categories') }}
),

final as (
    select
        category_code,
        label as category_label
    from source
)

select * from final
