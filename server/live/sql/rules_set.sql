-- Sets a team's rules. $1 team, $2.. the values, $10 who.
insert into proximity_rules (team_id, radius_m, max_priority, min_annual_value,
                             visited_within_days, dwell_s, dwell_pings, cooldown_minutes,
                             max_per_hour, updated_by)
values ($1, $2, $3, $4::float8::numeric(14, 2), $5, $6, $7, $8, $9, $10)
on conflict (team_id) do update set
    radius_m = excluded.radius_m, max_priority = excluded.max_priority,
    min_annual_value = excluded.min_annual_value,
    visited_within_days = excluded.visited_within_days, dwell_s = excluded.dwell_s,
    dwell_pings = excluded.dwell_pings, cooldown_minutes = excluded.cooldown_minutes,
    max_per_hour = excluded.max_per_hour, updated_by = excluded.updated_by,
    updated_at = now()
