-- Rate limited: wait without counting an attempt.
update crm_activity_outbox set last_error = $2,
       next_attempt_at = now() + make_interval(secs => $3)
where id = $1
