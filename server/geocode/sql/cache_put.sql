insert into geocode_cache (key, lon, lat, precision, confidence, provider, expires_at)
values ($1, $2, $3, $4, $5, $6, $7)
on conflict (key) do update set lon = excluded.lon, lat = excluded.lat,
    precision = excluded.precision, confidence = excluded.confidence,
    provider = excluded.provider, fetched_at = now(), expires_at = excluded.expires_at
