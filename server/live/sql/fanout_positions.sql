-- The current (not late) pings another instance stored, with each rep's team, for live maps.
-- $1 first id, $2 last id.
select p.rep_id, tm.team_id, p.recorded_at, st_x(p.position) as lon, st_y(p.position) as lat,
       p.accuracy_m::float8 as accuracy_m, p.tier, p.flags
from pings p
join team_members tm on tm.rep_id = p.rep_id
where p.id between $1 and $2 and not p.late
