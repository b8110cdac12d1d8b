-- Activities per status.
select count(*) filter (where status = 'pending') as pending,
       count(*) filter (where status = 'done') as done,
       count(*) filter (where status = 'failed') as failed
from crm_activity_outbox
