update appointments set status = 'cancelled', updated_at = now()
where id = $1 and status = 'booked'
returning id
