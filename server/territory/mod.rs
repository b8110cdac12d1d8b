//! Territories: rules, the workload model, balanced plans, publishing.

pub mod arrival;
pub mod balance;
pub mod cells;
pub mod metrics;
pub mod plans;
pub mod rules;
pub mod teams;
pub mod tiles;
pub(crate) mod tiling;
pub mod travel;
pub mod views;

use thiserror::Error;

/// What can go wrong in territory planning, for the web layer to map to a status.
#[derive(Debug, Error)]
pub enum TerritoryError {
    /// The request makes no sense (bad rule, tolerance, unknown territory...): 400/422.
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    /// The request clashes with the plan's state (published, locked accounts...): 409.
    #[error("{0}")]
    Conflict(String),
    #[error("the optimizer failed: {0}")]
    Balance(#[from] balance::BalanceError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}
