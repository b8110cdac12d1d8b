-- Deletes every ping of a rep. $1 rep.
delete from pings where rep_id = $1
