//! The one integration-test binary: each module tests a capability through its public surface.

mod helpers;

mod access_matrix;
mod accounts_api;
mod alert_tasks;
mod auth;
mod cli;
mod crm_activities;
mod crm_csv;
mod crm_reconcile;
mod crm_sync;
mod crm_trust;
mod crm_vectors;
mod crm_writeback;
mod day_plans;
mod day_settings;
mod demo;
mod devices;
mod geocode_worker;
mod geocoder;
mod health;
mod jobs;
mod live_alerts;
mod live_durability;
mod live_pings;
mod live_socket;
mod oidc;
mod oidc_tokens;
mod routing_table;
mod seed_data;
mod seed_load;
mod territories;
mod territory_tiles;
mod tokens;
