-- Deletes pings recorded more than $1 days ago; returns how many.
delete from pings where recorded_at < now() - make_interval(days => $1)
