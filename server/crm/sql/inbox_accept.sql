with ins as (
    insert into crm_inbox (connection_id, event_id, payload)
    select $1, e.event_id, e.payload
    from unnest($2::text[], $3::jsonb[]) as e(event_id, payload)
    on conflict on constraint crm_inbox_event_key do nothing
    returning 1
)
select count(*) from ins
