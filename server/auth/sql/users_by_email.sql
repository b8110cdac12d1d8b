select id, email, name, role, rep_id, disabled from users where lower(email) = lower($1)
