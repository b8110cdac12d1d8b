update crm_outbox set next_attempt_at = now() + make_interval(secs => $3)
where id in (select id from crm_outbox
             where connection_id = $1 and status = 'pending'
               and next_attempt_at <= now()
             order by id
             limit $2
             for update skip locked)
returning id, account_id, crm_id, expected_owner, new_owner, plan_id, attempts
