select id, name, crm_source, crm_id, geocode_status::text as status,
       geocode_attempts as attempts, geocode_error as reason,
       geocode_next_attempt_at as next_attempt_at
from accounts
where deleted_at is null
  and (geocode_status = 'failed' or (geocode_status = 'pending' and geocode_attempts > 0))
order by updated_at desc limit $1
