update geocode_cache set hits = hits + 1
where key = any($1) and expires_at > now()
returning key, lon, lat, precision, confidence, provider, fetched_at
