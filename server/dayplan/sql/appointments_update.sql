update appointments
set window_start = $2, window_end = $3, duration_minutes = $4, note = $5, account_id = $6,
    updated_at = now()
where id = $1 and status = 'booked'
returning id
