//! The CRM column group of `accounts` (name, address, value, tier, CRM clocks, deletion):
//! the only writer of those columns. CRM apply, reconciliation, CSV and seeding call these.
