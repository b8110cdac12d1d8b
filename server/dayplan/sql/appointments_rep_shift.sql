-- Locks the rep (appointment changes for one rep are serialized) and reads the shift of the
-- local day on which a window starts. $1 rep, $2 window start, $3 window end.
select r.active,
       r.timezone,
       (($2::timestamptz at time zone r.timezone))::date as day,
       (($3::timestamptz at time zone r.timezone) - interval '1 microsecond')::date as last_day,
       extract(isodow from ($2::timestamptz at time zone r.timezone))::int2 = any (r.workdays) as workday,
       ((($2::timestamptz at time zone r.timezone))::date + r.work_start) at time zone r.timezone as shift_start,
       ((($2::timestamptz at time zone r.timezone))::date + r.work_end) at time zone r.timezone as shift_end,
       to_char(r.work_start, 'HH24:MI') || '–' || to_char(r.work_end, 'HH24:MI') as shift_text
from reps r
where r.id = $1
for update
