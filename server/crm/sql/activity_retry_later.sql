update crm_activity_outbox set attempts = $2, last_error = $3,
       next_attempt_at = now() + make_interval(secs => $4)
where id = $1
