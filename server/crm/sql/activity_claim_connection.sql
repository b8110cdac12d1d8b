-- The connection whose oldest due activity is due first (enabled, with an API).
select o.connection_id, c.kind
from crm_activity_outbox o join crm_connections c on c.id = o.connection_id
where o.status = 'pending' and o.next_attempt_at <= now()
  and c.enabled and c.kind <> 'standard'
order by o.next_attempt_at, o.id
limit 1
for update of o skip locked
