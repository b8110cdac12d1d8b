-- A rep's day: shift and break in seconds since local midnight, start and end points, the
-- day's local midnight and UTC offset. $1 rep, $2 day.
select r.id,
       r.name,
       r.timezone,
       r.active,
       extract(isodow from $2::date)::int2 = any (r.workdays) as workday,
       extract(epoch from r.work_start)::int8 as shift_start_s,
       extract(epoch from r.work_end)::int8 as shift_end_s,
       r.break_minutes::int8 as break_minutes,
       extract(epoch from r.break_earliest)::int8 as break_earliest_s,
       extract(epoch from r.break_latest)::int8 as break_latest_s,
       st_x(coalesce(r.day_start, r.home_base)) as start_lon,
       st_y(coalesce(r.day_start, r.home_base)) as start_lat,
       st_x(coalesce(r.day_end, r.home_base)) as end_lon,
       st_y(coalesce(r.day_end, r.home_base)) as end_lat,
       ($2::date::timestamp at time zone r.timezone) as midnight,
       extract(epoch from ($2::date::timestamp
           - (($2::date::timestamp at time zone r.timezone) at time zone 'UTC')))::int4 as utc_offset_s,
       extract(epoch from (now() at time zone r.timezone) - $2::date::timestamp)::int8 as now_s,
       (select m.team_id from team_members m where m.rep_id = r.id) as team_id
from reps r
where r.id = $1
