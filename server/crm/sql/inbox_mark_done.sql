update crm_inbox i set status = 'done', outcome = d.outcome, processed_at = now(),
                       attempts = i.attempts + 1, last_error = null
from unnest($1::int8[], $2::text[]) as d(id, outcome)
where i.id = d.id
