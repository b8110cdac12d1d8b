//! The vendor calls the worker makes (batch sizes, request bodies), and the dry run that
//! lists them without sending anything.

use std::collections::BTreeMap;
use std::collections::HashSet;

use serde::Serialize;
use sqlx::PgPool;

use super::{HUBSPOT_OWNER_PROPERTY, OwnerChange, SALESFORCE_OWNER_FIELD};
use crate::crm::api::hubspot::{self as hubspot_api, HUBSPOT_API_BASE};
use crate::crm::api::salesforce as salesforce_api;
use crate::crm::clients::CrmClients;
use crate::crm::connection::{self, CrmKind};

/// One HTTP call the worker would make.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlannedCall {
    pub connection: String,
    /// `read_owners` (the conflict check before each write) or `write_owners`.
    #[schema(value_type = String)]
    pub purpose: &'static str,
    #[schema(value_type = String)]
    pub method: &'static str,
    pub url: String,
    /// The JSON body; `None` for a GET.
    #[schema(value_type = Option<Object>)]
    pub body: Option<serde_json::Value>,
    /// Records in the call.
    pub records: usize,
    /// What the dry run could not know exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The exact calls the worker would make for `changes` (reads for the conflict check, then
/// writes), batched as it batches (HubSpot 100, Salesforce 200 records a call), without
/// sending anything. Writes assume no conflict; changes that would be skipped make no call.
pub async fn preview(
    pool: &PgPool,
    clients: &CrmClients,
    changes: &[OwnerChange],
) -> Result<Vec<PlannedCall>, sqlx::Error> {
    let mut by_source: BTreeMap<&str, Vec<&OwnerChange>> = BTreeMap::new();
    for c in changes {
        if c.expected_owner.as_deref() != Some(c.new_owner.as_str()) {
            by_source.entry(c.crm.source.as_str()).or_default().push(c);
        }
    }
    let mut calls = Vec::new();
    for (source, list) in by_source {
        let Some(conn) = connection::by_name(pool, source).await? else {
            continue;
        };
        let mut seen = HashSet::new();
        let list: Vec<&OwnerChange> = list
            .into_iter()
            .filter(|c| seen.insert(c.crm.id.as_str()))
            .collect();
        match conn.kind {
            CrmKind::Standard => {}
            CrmKind::HubSpot => {
                // The worker refuses a connection without a base URL; say so here too.
                let base = conn.api_base_url.as_deref().unwrap_or(HUBSPOT_API_BASE);
                let note = conn.api_base_url.is_none().then(|| {
                    "the connection has no API base URL: the worker will fail until it is set"
                        .to_owned()
                });
                for chunk in list.chunks(batch_size(CrmKind::HubSpot)) {
                    let ids: Vec<String> = chunk.iter().map(|c| c.crm.id.clone()).collect();
                    let (url, body) =
                        hubspot_api::batch_read_request(base, &[HUBSPOT_OWNER_PROPERTY], &ids);
                    calls.push(PlannedCall {
                        connection: conn.name.clone(),
                        purpose: "read_owners",
                        method: "POST",
                        url,
                        body: Some(body),
                        records: chunk.len(),
                        note: note.clone(),
                    });
                    let (url, body) = hubspot_api::batch_update_request(
                        base,
                        &hubspot_inputs(chunk.iter().copied()),
                    );
                    calls.push(PlannedCall {
                        connection: conn.name.clone(),
                        purpose: "write_owners",
                        method: "POST",
                        url,
                        body: Some(body),
                        records: chunk.len(),
                        note: note.clone(),
                    });
                }
            }
            CrmKind::Salesforce => {
                let (instance, note) = match clients.known_instance_url(&conn).await {
                    Some(url) => (url, None),
                    None => (
                        conn.api_base_url.clone().unwrap_or_default(),
                        Some(
                            "Salesforce names the instance URL with the first token; shown with the login URL"
                                .to_owned(),
                        ),
                    ),
                };
                for chunk in list.chunks(batch_size(CrmKind::Salesforce)) {
                    let ids: Vec<&str> = chunk.iter().map(|c| c.crm.id.as_str()).collect();
                    calls.push(PlannedCall {
                        connection: conn.name.clone(),
                        purpose: "read_owners",
                        method: "GET",
                        url: salesforce_api::query_request(&instance, &owner_soql(&ids)),
                        body: None,
                        records: chunk.len(),
                        note: note.clone(),
                    });
                    let updates: Vec<(String, String)> = chunk
                        .iter()
                        .map(|c| (c.crm.id.clone(), c.new_owner.clone()))
                        .collect();
                    let (url, body) =
                        salesforce_api::update_owners_request(&instance, &updates, false);
                    calls.push(PlannedCall {
                        connection: conn.name.clone(),
                        purpose: "write_owners",
                        method: "PATCH",
                        url,
                        body: Some(body),
                        records: chunk.len(),
                        note: note.clone(),
                    });
                }
            }
        }
    }
    Ok(calls)
}

/// Records per read and write call.
pub(super) fn batch_size(kind: CrmKind) -> usize {
    match kind {
        CrmKind::Salesforce => salesforce_api::MAX_COLLECTION,
        CrmKind::HubSpot | CrmKind::Standard => hubspot_api::MAX_BATCH,
    }
}

/// Anything that names a record and its new owner.
pub(super) trait Target {
    fn crm_id(&self) -> &str;
    fn new_owner(&self) -> &str;
}

impl Target for &OwnerChange {
    fn crm_id(&self) -> &str {
        &self.crm.id
    }
    fn new_owner(&self) -> &str {
        &self.new_owner
    }
}

pub(super) fn hubspot_inputs<T: Target>(
    rows: impl Iterator<Item = T>,
) -> Vec<(String, BTreeMap<String, String>)> {
    rows.map(|r| {
        (
            r.crm_id().to_owned(),
            BTreeMap::from([(HUBSPOT_OWNER_PROPERTY.to_owned(), r.new_owner().to_owned())]),
        )
    })
    .collect()
}

/// Salesforce record ids: 15 or 18 letters and digits (so they need no escaping in SOQL).
pub(super) fn is_salesforce_id(id: &str) -> bool {
    matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The current owners of `ids` (all valid Salesforce ids).
pub(super) fn owner_soql(ids: &[&str]) -> String {
    let list: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
    format!(
        "SELECT Id, {SALESFORCE_OWNER_FIELD} FROM Account WHERE Id IN ({})",
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_soql_lists_the_ids() {
        assert!(is_salesforce_id("001Dm0000000001IAA"));
        assert!(!is_salesforce_id("001' OR Name != '"));
        assert_eq!(
            owner_soql(&["001Dm0000000001IAA", "001Dm0000000002IAA"]),
            "SELECT Id, OwnerId FROM Account WHERE Id IN ('001Dm0000000001IAA', '001Dm0000000002IAA')"
        );
    }
}
