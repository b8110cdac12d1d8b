update crm_outbox set next_attempt_at = now() where id = any($1)
