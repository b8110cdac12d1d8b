//! Terrane: a self-hosted territory-intelligence server for field sales.
//!
//! One folder per capability; dependencies point one way:
//! `web` (HTTP handlers) -> capability services (`accounts`, `routing`, `seed`) -> `db`.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod crm;
pub mod dayplan;
pub mod db;
pub mod error;
pub mod geocode;
pub mod jobs;
pub mod live;
pub mod net;
pub mod osm;
pub mod reps;
pub mod routing;
pub mod seed;
pub mod signal;
pub mod spatial;
pub mod telemetry;
pub mod territory;
pub mod web;
pub mod workers;
