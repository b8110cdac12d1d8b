select count(*) as entries, count(*) filter (where lon is null) as negative,
       coalesce(sum(hits), 0)::int8 as hits,
       count(*) filter (where expires_at <= now()) as expired
from geocode_cache
