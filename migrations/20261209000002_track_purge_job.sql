-- The retention purge of location pings runs as a job (server/live/retention.rs).
alter type job_kind add value if not exists 'track_purge';
