-- Accounts this rep visited on the day (counted or flagged), latest first, with where they
-- are. $1 rep, $2 the day's local midnight.
select v.account_id, max(v.visited_at) as visited_at,
       st_x(a.location) as lon, st_y(a.location) as lat
from visits v
join accounts a on a.id = v.account_id
where v.rep_id = $1
  and v.visited_at >= $2
  and v.visited_at < $2 + interval '1 day'
group by v.account_id, a.location
order by max(v.visited_at) desc
