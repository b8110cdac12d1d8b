//! Which CRM record an account is.

use serde::{Deserialize, Serialize};

/// A CRM record: the connection's name (`accounts.crm_source`) and the record's id there
/// (`accounts.crm_id`). The same id under two sources is two records. Serialized (and read
/// from rows) as `crm_source` and `crm_id`, so it can be flattened into a larger shape.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    sqlx::FromRow,
    utoipa::ToSchema,
)]
pub struct CrmRef {
    #[serde(rename = "crm_source")]
    #[sqlx(rename = "crm_source")]
    pub source: String,
    #[serde(rename = "crm_id")]
    #[sqlx(rename = "crm_id")]
    pub id: String,
}

impl CrmRef {
    pub fn new(source: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            id: id.into(),
        }
    }
}

impl std::fmt::Display for CrmRef {
    /// `source/id`, as logs and messages name a record.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.source, self.id)
    }
}
