select count(*) filter (where status = 'pending') as pending,
       count(*) filter (where status = 'dead') as dead,
       count(*) filter (where status = 'done' and processed_at > now() - interval '1 hour')
           as done_last_hour,
       extract(epoch from now() - min(received_at) filter (where status = 'pending'))::float8
           as oldest_pending_s
from crm_inbox
