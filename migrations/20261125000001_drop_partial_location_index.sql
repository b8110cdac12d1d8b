-- accounts_location_gist (live accounts only) duplicated accounts_location_any_gist (every
-- account, for the plan tiles): the planner already answered the live-accounts bbox query of
-- GET /api/accounts from the full index (explain on the 100,000-account benchmark), and both
-- were maintained on every write of a location. docs/benchmarks.md has the figures.
drop index if exists accounts_location_gist;
