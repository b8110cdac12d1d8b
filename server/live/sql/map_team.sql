-- A team's reps with their latest current position since $2 and today's (UTC) ping and flag
-- counts. $1 team.
select r.id as rep_id, r.name, lp.recorded_at, st_x(lp.position) as lon, st_y(lp.position) as lat,
       lp.accuracy_m::float8 as accuracy_m, lp.tier,
       coalesce((select jsonb_agg(jsonb_build_array(f.flag, f.n) order by f.flag)
                 from (select unnest(p.flags) as flag, count(*) as n
                       from pings p
                       where p.rep_id = r.id and p.recorded_at >= date_trunc('day', now())
                       group by 1) f), '[]'::jsonb) as flags,
       (select count(*) from pings p
        where p.rep_id = r.id and p.recorded_at >= date_trunc('day', now())) as pings_today
from team_members tm
join reps r on r.id = tm.rep_id
left join lateral (
    select p.recorded_at, p.position, p.accuracy_m, p.tier
    from pings p
    where p.rep_id = r.id and not p.late and p.recorded_at >= $2
    order by p.recorded_at desc
    limit 1
) lp on true
where tm.team_id = $1
order by r.name
