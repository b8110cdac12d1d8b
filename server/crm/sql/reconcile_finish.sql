update crm_reconciliations set
    status = $2::crm_reconcile_status, finished_at = now(), remote_records = $3, created = $4, updated = $5,
    deleted = $6, unchanged = $7, errors = $8, error_samples = $9, failure = $10,
    clocks_repaired = $11
where id = $1
