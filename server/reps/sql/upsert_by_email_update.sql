-- Sets what an import file says of the rep with e-mail $1 (the row exists); a null value or a
-- false "present" flag keeps the stored value. Returns a row only when something changed.
-- $2 name; $3 has crm_owner_id, $4 the id; $5 has home, $6-$7 home; $8-$9 shift; $10 time
-- zone; $11 active; $12-$14 break; $15 has day start, $16-$17 it; $18 has day end, $19-$20 it.
with cur as (
    select * from reps where email = $1 for update
),
new as (
    select c.id, $2::text as name,
           case when $3 then $4::text else c.crm_owner_id end as crm_owner_id,
           case when $5
                then st_setsrid(st_makepoint($6::float8, $7::float8), 4326)
                else c.home_base end as home_base,
           coalesce($8::time, c.work_start) as work_start,
           coalesce($9::time, c.work_end) as work_end,
           coalesce($10::text, c.timezone) as timezone,
           coalesce($11::bool, c.active) as active,
           coalesce($12::int2, c.break_minutes) as break_minutes,
           coalesce($13::time, c.break_earliest) as break_earliest,
           coalesce($14::time, c.break_latest) as break_latest,
           case when $15
                then st_setsrid(st_makepoint($16::float8, $17::float8), 4326)
                else c.day_start end as day_start,
           case when $18
                then st_setsrid(st_makepoint($19::float8, $20::float8), 4326)
                else c.day_end end as day_end
    from cur c
)
update reps r set
    name = n.name, crm_owner_id = n.crm_owner_id, home_base = n.home_base,
    work_start = n.work_start, work_end = n.work_end, timezone = n.timezone,
    active = n.active, break_minutes = n.break_minutes, break_earliest = n.break_earliest,
    break_latest = n.break_latest, day_start = n.day_start, day_end = n.day_end
from new n
where r.id = n.id
  and (r.name, r.crm_owner_id, r.home_base, r.work_start, r.work_end, r.timezone,
       r.active, r.break_minutes, r.break_earliest, r.break_latest,
       st_asbinary(r.day_start), st_asbinary(r.day_end))
      is distinct from
      (n.name, n.crm_owner_id, n.home_base, n.work_start, n.work_end, n.timezone,
       n.active, n.break_minutes, n.break_earliest, n.break_latest,
       st_asbinary(n.day_start), st_asbinary(n.day_end))
returning true
