select exists (select 1 from territory_plans where id = $1 and status = 'published')
