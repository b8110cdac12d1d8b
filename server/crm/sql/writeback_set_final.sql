update crm_outbox set status = $2::crm_outbox_status, attempts = $3, last_error = $4
where id = $1
