select i.id, c.name as connection, i.event_id, i.received_at, i.attempts,
       i.last_error as reason
from crm_inbox i join crm_connections c on c.id = i.connection_id
where i.status = 'dead'
order by i.id desc
limit $1
