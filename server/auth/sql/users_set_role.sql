update users set role = $2, rep_id = $3 where id = $1
