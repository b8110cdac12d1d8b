-- An admin's "retry": failed activities go back to the queue with fresh attempts. Returns ids.
update crm_activity_outbox set status = 'pending', attempts = 0, next_attempt_at = now(),
       last_error = null
where status = 'failed'
returning id
