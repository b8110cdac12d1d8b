-- Leases up to $2 due activities of connection $1 for $3 seconds, with what the CRM call needs:
-- the account's record, the visit or the alert, the rep's CRM owner id and local day. `at` is
-- when the visit was logged or the alert raised; `ends_at` and `outcome` are a visit's only.
with claimed as (
    update crm_activity_outbox set next_attempt_at = now() + make_interval(secs => $3),
                                   claims = claims + 1
    where id in (select id from crm_activity_outbox
                 where connection_id = $1 and status = 'pending'
                   and next_attempt_at <= now()
                 order by id
                 limit $2
                 for update skip locked)
    returning id, visit_id, alert_id, marker, attempts, claims
)
select cl.id, cl.visit_id, cl.alert_id, cl.marker, cl.attempts, cl.claims,
       a.crm_id, a.name as account_name,
       coalesce(v.visited_at, p.created_at) as at,
       v.visited_at + make_interval(mins => coalesce(a.service_minutes, 30)) as ends_at,
       (coalesce(v.visited_at, p.created_at) at time zone r.timezone)::date as local_day,
       v.outcome::text as outcome, v.note,
       r.crm_owner_id as owner_crm_id
from claimed cl
left join visits v on v.id = cl.visit_id
left join proximity_alerts p on p.id = cl.alert_id
join accounts a on a.id = coalesce(v.account_id, p.account_id)
join reps r on r.id = coalesce(v.rep_id, p.rep_id)
order by cl.id
