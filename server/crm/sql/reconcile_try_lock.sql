select pg_try_advisory_lock(7304, hashtext($1))
