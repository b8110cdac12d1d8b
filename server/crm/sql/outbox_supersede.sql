update crm_outbox o set status = 'failed', last_error = $3, superseded = true,
                        superseded_by = $1
where o.status = 'pending' and o.plan_id is distinct from $1
  and (o.account_id = any($2)
       or o.plan_id in (select p.id from territory_plans p
                        where p.team_id = (select team_id from territory_plans
                                           where id = $1)))
