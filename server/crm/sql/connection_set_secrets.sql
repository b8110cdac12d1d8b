update crm_connections set secrets = $2, secrets_summary = $3 where id = $1
