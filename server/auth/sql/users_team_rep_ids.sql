select m.rep_id from team_members m join teams t on t.id = m.team_id
where t.manager_user_id = $1 order by m.rep_id
