-- The free-text message and the exact coordinates are never selected.
with

source as (
    select * from {{ source('service', 'reports') }}
),

final as (
    select
        report_id,
        category_code,
        commune_code,
        status as report_status,
        created_at,
        case
            when closed_at < {{ commons_privacy.release_week_end() }}
                then closed_at
        end as closed_at
    from source
    where created_at < {{ commons_privacy.release_week_end() }}
)

select * from final
