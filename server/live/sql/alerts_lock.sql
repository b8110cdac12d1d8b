-- A rep's alert, locked for a change. $1 alert, $2 rep.
select p.state, p.account_id
from proximity_alerts p
where p.id = $1 and p.rep_id = $2
for update
