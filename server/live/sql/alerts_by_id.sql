-- Alerts by id (for other instances' notifications). $1 ids.
select p.id, p.rep_id, p.account_id, a.name as account_name, st_x(a.location) as lon,
       st_y(a.location) as lat, p.distance_m::float8 as distance_m, p.ping_event_id, p.state,
       p.created_at, p.snoozed_until, p.appointment_id
from proximity_alerts p
join accounts a on a.id = p.account_id
where p.id = any ($1)
