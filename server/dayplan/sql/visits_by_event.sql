select v.id, v.event_id, v.rep_id, v.account_id, a.name as account_name, v.visited_at,
       v.outcome::text as outcome, v.note, v.distance_m, v.far_from_account
from visits v
join accounts a on a.id = v.account_id
where v.event_id = $1
