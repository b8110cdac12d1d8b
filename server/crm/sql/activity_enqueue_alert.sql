-- Queues an alert's CRM task, in the transaction that marks the alert `task_requested`: for an
-- account whose source is a connection with an API. $1 alert id. The marker is one word (the
-- task search matches whole words): `terranealert` and the alert id's 32 hex digits.
-- Answers the new row's id (none: queued already, or no connection) and whether the account
-- has such a connection.
with target as (
    select c.id as connection_id, p.id as alert_id
    from proximity_alerts p
    join accounts a on a.id = p.account_id
    join crm_connections c on c.name = a.crm_source
    where p.id = $1
      and c.kind in ('hubspot', 'salesforce')
), queued as (
    insert into crm_activity_outbox (connection_id, alert_id, marker, idempotency_key)
    select connection_id, alert_id, 'terranealert' || replace(alert_id::text, '-', ''),
           'alert:' || alert_id::text
    from target
    on conflict on constraint crm_activity_outbox_idempotency_key do nothing
    returning id
)
select (select id from queued) as queued, exists (select 1 from target) as has_crm
