update crm_inbox set status = 'pending', attempts = 0, next_attempt_at = now()
where id = $1 and status = 'dead'
