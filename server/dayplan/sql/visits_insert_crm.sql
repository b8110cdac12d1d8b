-- Records visits the CRM logged (completed meetings and Tasks), once per event id
-- (`crm:{connection}:{activity id}`); no position, so never flagged far. $1 event ids, $2 reps,
-- $3 accounts, $4 times. Returns each new visit's rep and time (to mark their days stale).
insert into visits (event_id, rep_id, account_id, visited_at, outcome, note, source,
                    distance_m, far_from_account)
select v.event_id, v.rep_id, v.account_id, v.visited_at, 'met', null, 'crm', null, false
from unnest($1::text[], $2::uuid[], $3::uuid[], $4::timestamptz[])
     as v(event_id, rep_id, account_id, visited_at)
on conflict on constraint visits_event_id_key do nothing
returning rep_id, visited_at
