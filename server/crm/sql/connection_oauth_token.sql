select oauth_token from crm_connections where id = $1
