-- Deletes every ping of a rep, and the rep's proximity alerts (they tell where the rep was,
-- within the alert radius). $1 rep. Counts the pings.
with alerts as (delete from proximity_alerts where rep_id = $1)
delete from pings where rep_id = $1
