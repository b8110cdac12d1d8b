-- Alerts of the reps in $1 raised since $2, newest first, at most $3; $4 alert ids (null:
-- any).
select p.id, p.rep_id, p.account_id, a.name as account_name, st_x(a.location) as lon,
       st_y(a.location) as lat, p.distance_m::float8 as distance_m, p.ping_event_id, p.state,
       p.created_at, p.snoozed_until, p.appointment_id
from proximity_alerts p
join accounts a on a.id = p.account_id
where p.rep_id = any ($1) and p.created_at >= $2 and ($4::uuid[] is null or p.id = any ($4))
order by p.created_at desc
limit $3
