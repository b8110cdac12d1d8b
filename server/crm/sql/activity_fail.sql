update crm_activity_outbox set status = 'failed', attempts = $2, last_error = $3
where id = $1
