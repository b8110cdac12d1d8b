-- The reps of a team. $1 team.
select rep_id from team_members where team_id = $1
