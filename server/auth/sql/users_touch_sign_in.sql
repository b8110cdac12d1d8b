update users set last_sign_in_at = now() where id = $1
