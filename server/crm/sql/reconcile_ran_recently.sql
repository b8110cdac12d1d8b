select exists (select 1 from crm_reconciliations where connection_id = $1
and trigger = 'schedule' and started_at > now() - interval '12 hours')
