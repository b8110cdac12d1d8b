select o.status, o.superseded, o.conflict_crm_owner, o.expected_owner, o.account_id
from crm_outbox o left join territory_plans p on p.id = o.plan_id
where o.id = $1
  and ($2::uuid is null or exists (select 1 from teams t
                                   where t.id = p.team_id and t.manager_user_id = $2))
for update of o
