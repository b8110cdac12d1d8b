select count(*) filter (where o.status = 'pending') as pending,
       count(*) filter (where o.status = 'done') as done,
       count(*) filter (where o.status = 'conflict') as conflict,
       count(*) filter (where o.status = 'failed') as failed
from crm_outbox o
left join territory_plans p on p.id = o.plan_id
where $1::uuid is null or exists (select 1 from teams t
                                  where t.id = p.team_id and t.manager_user_id = $1)
