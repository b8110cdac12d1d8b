//! The two simulated vendors and the HubSpot company properties they expose, shared by the
//! records, the API handlers and the webhook payloads.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    HubSpot,
    Salesforce,
}

/// Company properties a client may set.
pub const HUBSPOT_WRITABLE: &[&str] = &[
    "name",
    "industry",
    "address",
    "address2",
    "city",
    "zip",
    "state",
    "country",
    "hubspot_owner_id",
    "domain",
    "phone",
    "website",
    "terrane_tier",
    "terrane_annual_value",
    "terrane_visits_per_year",
    "terrane_priority",
];

/// Writable properties of HubSpot's `number` type.
pub const HUBSPOT_NUMBERS: &[&str] = &[
    "terrane_annual_value",
    "terrane_visits_per_year",
    "terrane_priority",
];

/// Properties HubSpot computes; readable, never writable.
pub const HUBSPOT_READ_ONLY: &[&str] = &[
    "hs_object_id",
    "createdate",
    "hs_lastmodifieddate",
    "hs_merged_object_ids",
];
