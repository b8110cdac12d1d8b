select pg_notify('terrane_account_located', id) from unnest($1::text[]) id
