select id, connection_id, event_id, payload, attempts, received_at
from crm_inbox
where status = 'pending' and next_attempt_at <= now()
order by id
limit $1
for update skip locked
