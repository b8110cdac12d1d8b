select id, email, name, role, rep_id, disabled from users where id = $1 for update
