select id from users where oidc_issuer = $1 and oidc_subject = $2
