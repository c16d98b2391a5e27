-- Appointments and distinct users per week, département and motive (Licence
-- Ouverte). A cell is published only where it stands for at least k distinct
-- users, whatever it counts (« secret statistique » otherwise: both counts
-- empty): eleven appointments of three people are not published.
{% set k = var('k_anonymity') %}

with

appointment_motives as (
    select * from {{ ref('int_appointment_motives__joined') }}
),

counted as (
    select
        appointment_week,
        departement_code,
        motive_name,
        {{ commons_privacy.suppress_small_count(
            'count(*)', k, 'user_id'
        ) }} as appointment_count,
        {{ commons_privacy.suppress_small_count(
            'count(distinct user_id)', k
        ) }} as user_count
    from appointment_motives
    group by appointment_week, departement_code, motive_name
),

final as (
    select
        appointment_week as semaine_rendez_vous,
        departement_code,
        motive_name as motif,
        appointment_count as nombre_rendez_vous,
        user_count as nombre_usagers
    from counted
)

select * from final
