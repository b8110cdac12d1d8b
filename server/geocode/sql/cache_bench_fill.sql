insert into geocode_cache (key, lon, lat, precision, confidence, provider, expires_at)
select k, x, y, 'rooftop', 0.9, 'osm', now() + interval '30 days'
from unnest($1::text[], $2::float8[], $3::float8[]) as u(k, x, y)
on conflict (key) do nothing
