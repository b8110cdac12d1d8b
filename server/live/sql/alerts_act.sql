-- Changes the state of a rep's alert (locked row read first by the caller). $1 alert,
-- $2 state, $3 snoozed until, $4 appointment.
update proximity_alerts
set state = $2, acted_at = now(), snoozed_until = $3, appointment_id = coalesce($4, appointment_id)
where id = $1
