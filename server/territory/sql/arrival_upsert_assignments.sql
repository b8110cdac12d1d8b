insert into plan_assignments (plan_id, account_id, territory_id, source, rule_id, reason,
                              crm_owner_at_plan, workload)
select $1, x.a, x.t, x.s::assignment_source, x.r, left(x.why, 500), acc.crm_owner_id,
       territory_workload($2, x.a)
from unnest($3::uuid[], $4::uuid[], $5::text[], $6::uuid[], $7::text[])
     as x(a, t, s, r, why)
join accounts acc on acc.id = x.a
on conflict (plan_id, account_id) do update set
    territory_id = excluded.territory_id, source = excluded.source,
    rule_id = excluded.rule_id, reason = excluded.reason,
    crm_owner_at_plan = excluded.crm_owner_at_plan, workload = excluded.workload
