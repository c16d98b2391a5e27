-- One row per report with quasi-identifiers generalised: creation week,
-- département, category label.
with

reports as (
    select * from {{ ref('stg_service__reports') }}
),

categories as (
    select * from {{ ref('stg_service__categories') }}
),

final as (
    select
        reports.report_id,
        {{ commons_privacy.to_iso_week('reports.created_at') }} as created_week,
        {{ commons_privacy.commune_to_departement('reports.commune_code') }}
            as departement_code,
        categories.category_label,
        reports.report_status
    from reports
    inner join categories
        on reports.category_code = categories.category_code
)

select * from final
