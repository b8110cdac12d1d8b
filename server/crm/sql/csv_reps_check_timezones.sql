select n from unnest($1::text[]) n
where not exists (select 1 from pg_timezone_names t where t.name = n)
