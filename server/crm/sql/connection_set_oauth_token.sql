update crm_connections set oauth_token = $2 where id = $1
