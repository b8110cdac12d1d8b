select team_id, id from territory_plans where status = 'published' order by team_id
