select i.id, c.name as connection, i.event_id, i.received_at, i.status::text as status,
       i.outcome, i.attempts, i.last_error
from crm_inbox i join crm_connections c on c.id = i.connection_id
order by i.id desc
limit $1
