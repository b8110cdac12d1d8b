update crm_inbox set attempts = $2, last_error = $3,
       status = case when $4 then 'dead'::crm_inbox_status else 'pending' end,
       next_attempt_at = now() + make_interval(secs => $5)
where id = $1
