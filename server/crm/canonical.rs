//! The canonical account change every CRM payload is mapped to before it touches the database.
//!
//! Vendors describe accounts differently (HubSpot company properties, Salesforce `Account`
//! fields, Terrane's own Standard Webhooks envelope); the worker, reconciliation and CSV import
//! all speak this one shape, so last-write-wins, soft deletes and merges live in one place
//! ([`super::apply`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::accounts::Address;

/// Account tier as the CRM states it; absent means `C`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tier {
    A,
    B,
    C,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::B => "B",
            Self::C => "C",
        }
    }

    /// `A`, `B` or `C`, ignoring case and surrounding spaces.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "A" | "a" => Some(Self::A),
            "B" | "b" => Some(Self::B),
            "C" | "c" => Some(Self::C),
            _ => None,
        }
    }
}

/// The full state of one account at `modified_at`, as the CRM knows it.
///
/// An upsert carries the whole record: an absent optional field means "empty in the CRM", not
/// "unchanged" (vendors that send partial changes are read back in full before mapping).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalAccount {
    /// The CRM's record id (`accounts.crm_id`); unique within a connection.
    pub crm_id: String,
    pub name: String,
    pub industry: Option<String>,
    pub address: Address,
    pub tier: Option<Tier>,
    /// Yearly value in the account's currency; never negative.
    pub annual_value: Option<f64>,
    pub visits_per_year: Option<i32>,
    /// 1 (highest) to 5.
    pub priority: Option<i16>,
    /// The CRM's owner id (`reps.crm_owner_id`).
    pub owner_crm_id: Option<String>,
    /// The CRM's own last-modified time of the record: the last-write-wins clock.
    pub modified_at: DateTime<Utc>,
}

/// One change to apply, stamped with the CRM's time of the change.
// Changes are built and applied one at a time; boxing the upsert would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Create or replace the account (and undelete it when the change is newer than the
    /// deletion).
    Upsert(CanonicalAccount),
    /// Soft-delete.
    Delete { crm_id: String, at: DateTime<Utc> },
    /// Undo a soft delete; the record's state is refreshed separately.
    Restore { crm_id: String, at: DateTime<Utc> },
    /// `merged` records were folded into `survivor`: they are soft-deleted and point at it.
    Merge {
        survivor: String,
        merged: Vec<String>,
        at: DateTime<Utc>,
    },
}

impl Change {
    /// The CRM record the change is about (the survivor for merges).
    pub fn crm_id(&self) -> &str {
        match self {
            Self::Upsert(a) => &a.crm_id,
            Self::Delete { crm_id, .. } | Self::Restore { crm_id, .. } => crm_id,
            Self::Merge { survivor, .. } => survivor,
        }
    }

    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Upsert(a) => a.modified_at,
            Self::Delete { at, .. } | Self::Restore { at, .. } | Self::Merge { at, .. } => *at,
        }
    }
}

/// A problem with one event's content: permanent, so the event is parked at once instead of
/// being retried. The message names fields, never their values (no personal data in logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MappingError(pub String);

impl MappingError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Trims and drops empty strings.
pub fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
