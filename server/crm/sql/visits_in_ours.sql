-- Which of activity ids $2 of connection $1 Terrane wrote (visits written back).
select crm_activity_id from crm_activity_outbox
where connection_id = $1 and crm_activity_id = any($2)
