-- The team's ($1) book with each account's yearly workload (`territory_workload`) and the
-- territory it is in today: in the base plan ($2) when there is one, else its own territory,
-- else its owner's.
select a.id as account_id,
       st_x(a.location) as lon,
       st_y(a.location) as lat,
       territory_workload($1, a.id) as workload,
       a.annual_value::float8 as value,
       a.crm_owner_id,
       coalesce(
           (select pa.territory_id from plan_assignments pa
            where pa.plan_id = $2 and pa.account_id = a.id),
           (select t.id from territories t where t.id = a.territory_id and t.team_id = $1),
           (select pt.territory_id from plan_territories pt
            where pt.plan_id = $2 and pt.rep_id = a.owner_rep_id
            order by pt.territory_id limit 1),
           (select t.id from territories t where t.team_id = $1 and t.rep_id = a.owner_rep_id
            order by t.name limit 1)) as current_territory
from accounts a
where a.id in (select territory_team_book($1))
order by a.id
