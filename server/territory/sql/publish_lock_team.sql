select pg_advisory_xact_lock(hashtext('territory-publish'), hashtext($1::text))
