select a.id as account_id, a.crm_source, a.crm_id, null::text as expected_owner,
       r.crm_owner_id as new_owner
from plan_assignments pa
join accounts a on a.id = pa.account_id
join plan_territories pt on pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id
join reps r on r.id = pt.rep_id and r.crm_owner_id is not null
where pa.plan_id = $1 and pa.account_id = any($2) and a.crm_owner_id is null
