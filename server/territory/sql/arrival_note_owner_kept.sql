update plan_assignments pa
set reason = left(pa.reason || '; its CRM owner differs from the territory''s rep and is kept', 500)
from accounts a, plan_territories pt, reps r
where pa.plan_id = $1 and pa.account_id = any($2) and a.id = pa.account_id
  and pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id and r.id = pt.rep_id
  and a.crm_owner_id is not null and r.crm_owner_id is not null
  and a.crm_owner_id <> r.crm_owner_id
