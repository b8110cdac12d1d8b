-- Visits of some reps on a day (each rep's local day), newest first. $1 rep ids, $2 day.
select v.id, v.event_id, v.rep_id, v.account_id, a.name as account_name, v.visited_at,
       v.outcome::text as outcome, v.note, v.distance_m, v.far_from_account
from visits v
join reps r on r.id = v.rep_id
join accounts a on a.id = v.account_id
where v.rep_id = any ($1)
  and (v.visited_at at time zone r.timezone)::date = $2
order by v.visited_at desc, v.id
limit 1000
