-- Each rep's last stored precise point before an instant, for the implied-speed check.
-- $1 reps, $2 instants (same length); a row for each rep that has one.
select q.rep, p.recorded_at, st_x(p.position) as lon, st_y(p.position) as lat
from unnest($1::uuid[], $2::timestamptz[]) as q(rep, at)
cross join lateral (
    select recorded_at, position
    from pings
    where rep_id = q.rep and tier = 'precise' and recorded_at < q.at
    order by recorded_at desc
    limit 1
) p
