update crm_outbox set status = 'done', done_at = now(), attempts = $2,
       last_error = null
where id = $1
