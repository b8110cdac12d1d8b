-- Records a visit once per event id. The distance from the phone to the account is kept, not
-- the position. $1 event id, $2 rep, $3 account, $4 visited at, $5 outcome, $6 note,
-- $7/$8 the phone's lon/lat (null when not shared), $9 "far" threshold in metres.
with d as (
    select a.id,
           case when $7::float8 is null or $8::float8 is null or a.location is null then null
                else st_distance(a.location::geography,
                                 st_setsrid(st_makepoint($7, $8), 4326)::geography)
           end as distance_m
    from accounts a
    where a.id = $3
)
insert into visits (event_id, rep_id, account_id, visited_at, outcome, note, source,
                    distance_m, far_from_account)
select $1, $2, d.id, $4, $5, $6, 'app', d.distance_m, coalesce(d.distance_m > $9, false)
from d
on conflict on constraint visits_event_id_key do nothing
returning id
