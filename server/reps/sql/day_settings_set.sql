-- Sets a rep's day settings; returns true when the row changed, false when it already held
-- them, no row when there is no such rep. $1 rep, $2-$3 shift, $4-$6 break, $7-$8 start
-- point (null: home base), $9-$10 end point.
with new as (
    select $2::time as work_start, $3::time as work_end, $4::int2 as break_minutes,
           $5::time as break_earliest, $6::time as break_latest,
           st_setsrid(st_makepoint($7::float8, $8::float8), 4326) as day_start,
           st_setsrid(st_makepoint($9::float8, $10::float8), 4326) as day_end
),
changed as (
    update reps r set
        work_start = n.work_start, work_end = n.work_end, break_minutes = n.break_minutes,
        break_earliest = n.break_earliest, break_latest = n.break_latest,
        day_start = n.day_start, day_end = n.day_end
    from new n
    where r.id = $1
      and (r.work_start, r.work_end, r.break_minutes, r.break_earliest, r.break_latest,
           st_asbinary(r.day_start), st_asbinary(r.day_end))
          is distinct from
          (n.work_start, n.work_end, n.break_minutes, n.break_earliest, n.break_latest,
           st_asbinary(n.day_start), st_asbinary(n.day_end))
    returning r.id
)
select exists (select 1 from changed)
from reps
where id = $1
