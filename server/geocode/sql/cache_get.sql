update geocode_cache set hits = hits + 1
where key = $1 and expires_at > now()
returning lon, lat, precision, confidence, provider, fetched_at
