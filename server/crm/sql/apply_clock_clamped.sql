insert into crm_clock_clamps (source, clamped) values ($1, $2)
on conflict (source) do update
set clamped = crm_clock_clamps.clamped + excluded.clamped, last_at = now()
