-- The team and rules of each rep in $1 (rules null: the defaults apply).
select q.rep_id, tm.team_id,
       to_jsonb(r) - 'team_id' - 'updated_by' - 'updated_at' as rules
from unnest($1::uuid[]) as q(rep_id)
left join team_members tm on tm.rep_id = q.rep_id
left join proximity_rules r on r.team_id = tm.team_id
