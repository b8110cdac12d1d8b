-- Deletes pings recorded, and proximity alerts raised, more than $1 days ago; counts the
-- pings.
with alerts as (
    delete from proximity_alerts where created_at < now() - make_interval(days => $1)
)
delete from pings where recorded_at < now() - make_interval(days => $1)
