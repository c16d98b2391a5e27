-- IP addresses, user agents and page URLs are never selected; visitor and
-- session ids stay in the warehouse, only to count distinct visitors and
-- visits.
with

source as (
    select * from {{ source('service', 'events') }}
),

final as (
    select
        event_id,
        event_name,
        occurred_at,
        visitor_id,
        session_id
    from source
    where occurred_at < {{ commons_privacy.release_week_end() }}
)

select * from final
