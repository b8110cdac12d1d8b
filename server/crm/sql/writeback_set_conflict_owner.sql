update crm_outbox set conflict_crm_owner = $2 where id = $1
