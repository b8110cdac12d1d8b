delete from crm_inbox where status = 'done'
and processed_at < now() - make_interval(days => $1)
