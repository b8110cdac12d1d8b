update crm_outbox set status = 'pending', attempts = 0, next_attempt_at = now(),
       last_error = null, done_at = null, conflict_crm_owner = null,
       expected_owner = case when $2 then $3 else expected_owner end
where id = $1
