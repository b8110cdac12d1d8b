select a.id from accounts a
where a.id in (select territory_team_book($1))
  and case when $3::uuid[] is null
           then not exists (select 1 from plan_assignments pa
                            where pa.plan_id = $2 and pa.account_id = a.id)
           else a.id = any($3)
                and not exists (select 1 from plan_assignments pa
                                where pa.plan_id = $2 and pa.account_id = a.id
                                  and pa.source in ('lock', 'manual'))
      end
