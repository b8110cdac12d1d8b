insert into appointments
    (rep_id, account_id, window_start, window_end, duration_minutes, note, source, external_ref, created_by)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
on conflict on constraint appointments_external_ref_key do update
    set account_id = excluded.account_id,
        window_start = excluded.window_start,
        window_end = excluded.window_end,
        duration_minutes = excluded.duration_minutes,
        note = excluded.note,
        status = 'booked',
        updated_at = now()
returning id
