select o.id, c.name as connection, o.plan_id, p.name as plan_name, o.account_id,
       a.name as account_name, o.crm_id, o.expected_owner, o.new_owner, o.status,
       o.attempts, o.next_attempt_at, o.last_error, o.created_at, o.done_at,
       o.superseded
from crm_outbox o
join crm_connections c on c.id = o.connection_id
left join territory_plans p on p.id = o.plan_id
left join accounts a on a.id = o.account_id
where ($1::uuid is null or o.plan_id = $1)
  and ($2::crm_outbox_status is null or o.status = $2)
  and ($3::uuid is null or exists (select 1 from teams t
                                   where t.id = p.team_id and t.manager_user_id = $3))
order by o.id desc
limit $4
