select secrets from crm_connections where id = $1
