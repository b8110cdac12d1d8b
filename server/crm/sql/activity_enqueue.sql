-- Queues a visit's write-back as a CRM activity, in the transaction that records the visit:
-- only a visit logged in the app (one read from the CRM is never echoed back) that counts (not
-- far from the account), at an account whose source is a connection with an API. $1 visit id,
-- $2 the marker's base URL. Returns the new row's id (none: not queued, or queued already).
insert into crm_activity_outbox (connection_id, visit_id, marker, idempotency_key)
select c.id, v.id, $2 || '/visits/' || v.id::text, 'visit:' || v.id::text
from visits v
join accounts a on a.id = v.account_id
join crm_connections c on c.name = a.crm_source
where v.id = $1
  and v.source = 'app'
  and not v.far_from_account
  and c.kind in ('hubspot', 'salesforce')
on conflict on constraint crm_activity_outbox_idempotency_key do nothing
returning id
