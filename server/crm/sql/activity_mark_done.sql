update crm_activity_outbox set status = 'done', done_at = now(), attempts = $2,
       crm_activity_id = $3, last_error = null
where id = $1
