select count(*) from accounts where crm_source = 'cache-bench' and geocode_precision = $1
