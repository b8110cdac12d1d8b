-- A team's own rules, when it has them. $1 team.
select radius_m, max_priority, min_annual_value::float8 as min_annual_value,
       visited_within_days, dwell_s, dwell_pings, cooldown_minutes, max_per_hour
from proximity_rules
where team_id = $1
