-- The rep's other booked appointments on a local day. $1 rep, $2 day, $3 time zone,
-- $4 the appointment being changed (null when new).
select id, window_start, window_end, duration_minutes::int8 as duration_minutes
from appointments
where rep_id = $1
  and status = 'booked'
  and ($4::uuid is null or id <> $4)
  and window_start < (($2::date + 1)::timestamp at time zone $3)
  and window_end > ($2::date::timestamp at time zone $3)
order by window_start
