-- Vector tiles of plans (GET /api/plans/{id}/tiles/{z}/{x}/{y}): a tile finds its accounts by
-- location first. A plan keeps accounts deleted in the CRM after it was computed (the planner
-- shows them until the next plan), so the partial index accounts_location_gist (live accounts
-- only) cannot answer that lookup: this one covers every account. Territory shapes need no
-- spatial index: a plan has a handful, found by its primary key.
create index accounts_location_any_gist on accounts using gist (location);
