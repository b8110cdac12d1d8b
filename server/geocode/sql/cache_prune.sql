delete from geocode_cache where expires_at <= now()
