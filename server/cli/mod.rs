//! Subcommands of the `terrane` binary beyond serve/migrate/seed.

pub mod crm;
pub mod geocoder;
