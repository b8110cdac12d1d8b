-- The booked appointments of a rep that touch the day, with their account, times in seconds
-- since local midnight. $1 rep, $2 day, $3 the rep's time zone.
select ap.id as appointment_id,
       a.id as account_id,
       a.name,
       st_x(a.location) as lon,
       st_y(a.location) as lat,
       a.priority,
       a.annual_value::float8 as annual_value,
       extract(epoch from (ap.window_start at time zone $3) - $2::date::timestamp)::int8 as earliest_s,
       extract(epoch from (ap.window_end at time zone $3) - $2::date::timestamp)::int8 as window_end_s,
       ap.duration_minutes::int8 * 60 as service_s
from appointments ap
join accounts a on a.id = ap.account_id
where ap.rep_id = $1
  and ap.status = 'booked'
  and a.deleted_at is null
  and ap.window_start < (($2::date + 1)::timestamp at time zone $3)
  and ap.window_end > ($2::date::timestamp at time zone $3)
order by ap.window_start, ap.id
