select ap.id, ap.rep_id, ap.account_id, a.name as account_name, a.owner_rep_id,
       ap.window_start, ap.window_end, ap.duration_minutes, ap.status::text as status, ap.note,
       ap.source::text as source
from appointments ap
join accounts a on a.id = ap.account_id
where ap.id = $1
