-- "Add to route": from now to the end of the rep's shift today, and the account's service
-- minutes (the account's own, else the team's tier default, else by tier). $1 rep, $2 account.
select now() as start,
       ((now() at time zone r.timezone)::date + r.work_end) at time zone r.timezone as shift_end,
       (coalesce(a.service_minutes, wt.service_minutes,
                 case a.tier when 'A' then 45 when 'B' then 30 else 20 end))::int8 as minutes
from reps r
join accounts a on a.id = $2
left join team_members tm on tm.rep_id = r.id
left join workload_tiers wt on wt.team_id = tm.team_id and wt.tier = a.tier
where r.id = $1
