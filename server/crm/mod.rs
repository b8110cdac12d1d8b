//! CRM sync in: connections, signed webhooks into a durable inbox, the worker that maps vendor
//! payloads to canonical accounts, nightly reconciliation against the CRM's API, CSV import
//! and export.
//!
//! Flow: `web::webhooks` verifies a request with [`wire`] and commits its raw events to
//! [`inbox`] before answering; [`worker`] claims inbox rows, maps them with [`wire`] (and the
//! CRM's API through [`api`] where a webhook is only a change notice) to [`canonical::Change`]s
//! and hands them to [`apply`], the one place that writes accounts. Out: [`writeback`] sends
//! published owner changes and logged visits to the CRMs from outboxes; [`visits_in`] reads
//! the visits the CRMs recorded.

pub mod api;
pub mod apply;
pub mod canonical;
pub mod clients;
pub mod connection;
pub mod crypto;
pub mod csv;
pub mod inbox;
pub mod ingest;
pub mod reconcile;
pub mod visits_in;
pub mod wire;
pub mod worker;
pub mod writeback;
