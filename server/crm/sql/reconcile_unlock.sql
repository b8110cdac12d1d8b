select pg_advisory_unlock(7304, hashtext($1))
