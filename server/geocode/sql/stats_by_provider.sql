select coalesce(geocode_source, '-') as provider, geocode_status::text as status,
       geocode_precision::text as precision, count(*) as accounts
from accounts where deleted_at is null
group by 1, 2, 3 order by 1, 2, 3
