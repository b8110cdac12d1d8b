insert into crm_reconciliations (connection_id, trigger) values ($1, $2)
returning id, started_at
