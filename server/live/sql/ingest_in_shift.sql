-- Whether each (rep, instant) falls in the rep's shift: an active rep, a workday, between
-- work_start and work_end in the rep's time zone (the hours the day planner reads).
-- $1 reps, $2 instants (same length); one row per pair, in order.
select coalesce(r.active
                and extract(isodow from (t.at at time zone r.timezone))::int2 = any (r.workdays)
                and (t.at at time zone r.timezone)::time between r.work_start and r.work_end,
                false) as in_shift
from unnest($1::uuid[], $2::timestamptz[]) with ordinality as t(rep, at, n)
left join reps r on r.id = t.rep
order by t.n
