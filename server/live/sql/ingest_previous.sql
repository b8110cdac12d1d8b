-- The rep's last stored precise point before an instant, for the implied-speed check.
-- $1 rep, $2 instant.
select recorded_at, st_x(position) as lon, st_y(position) as lat
from pings
where rep_id = $1 and tier = 'precise' and recorded_at < $2
order by recorded_at desc
limit 1
