-- Opening intervals on an ISO weekday for some accounts, in seconds since midnight, and
-- whether each account has any hours at all (an account with hours on other days only is
-- closed on this one). $1 account ids, $2 weekday.
select h.account_id,
       bool_or(h.weekday = $2) as open_today,
       coalesce(array_agg(extract(epoch from h.opens)::int8 order by h.opens)
                filter (where h.weekday = $2), '{}') as opens_s,
       coalesce(array_agg(extract(epoch from h.closes)::int8 order by h.opens)
                filter (where h.weekday = $2), '{}') as closes_s
from account_opening_hours h
where h.account_id = any ($1)
group by h.account_id
