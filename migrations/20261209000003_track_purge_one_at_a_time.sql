-- One retention purge waiting or running at a time, however many instances queue it (its own
-- migration: a new enum value cannot be used in the transaction that adds it).
create unique index jobs_one_track_purge on jobs ((true))
    where kind = 'track_purge' and state in ('queued', 'running');
