update users set disabled = $2 where id = $1
