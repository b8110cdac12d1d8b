-- A rep's accounts that could be visited on the day: how overdue each is (time since the
-- last counted visit over the visit interval; never visited = 2), its service minutes (account
-- override, else the team's tier default, else by tier), its value and priority.
-- $1 rep, $2 team (may be null), $3 the day's local midnight, $4 account ids to leave out.
select a.id as account_id,
       a.name,
       st_x(a.location) as lon,
       st_y(a.location) as lat,
       a.priority,
       a.annual_value::float8 as annual_value,
       (coalesce(a.service_minutes, wt.service_minutes,
                 case a.tier when 'A' then 45 when 'B' then 30 else 20 end))::int8 * 60 as service_s,
       case when a.visits_per_year = 0 then 0::float8
            when lv.at is null then 2::float8
            else (extract(epoch from ($3 - lv.at)) / (365.25 * 86400 / a.visits_per_year))::float8
       end as overdue,
       (extract(epoch from ($3 - lv.at)) / 86400)::float8 as days_since_visit
from accounts a
left join workload_tiers wt on wt.team_id = $2 and wt.tier = a.tier
left join lateral (
    select max(v.visited_at) as at from visits v
    where v.account_id = a.id and not v.far_from_account
) lv on true
where a.owner_rep_id = $1
  and a.deleted_at is null
  and a.merged_into is null
  and not (a.id = any ($4))
