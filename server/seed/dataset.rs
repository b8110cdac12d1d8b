//! The demo CRM dataset file format (`seed-data/demo-crm.json`), shared by the builder and the loader.

use serde::{Deserialize, Serialize};

/// The demo's HubSpot-style connection (`accounts.crm_source`): it holds the real OSM
/// businesses, as companies with HubSpot-style numeric ids.
pub const DEMO_HUBSPOT_SOURCE: &str = "demo-hubspot";
/// The demo's Salesforce-style connection: it holds the synthetic prospects, as `Account`
/// records with 18-character Salesforce ids.
pub const DEMO_SALESFORCE_SOURCE: &str = "demo-salesforce";

/// The whole demo dataset, as written by `terrane seed-data build` and read by `terrane seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoDataset {
    /// File name of the OpenStreetMap extract it was derived from.
    pub derived_from: String,
    /// ODbL attribution for the OpenStreetMap facts in this file.
    pub attribution: String,
    /// Seed of the deterministic random generator used for synthetic values.
    pub seed: u64,
    pub reps: Vec<DemoRep>,
    pub accounts: Vec<DemoAccount>,
}

/// A sales rep with a home base on the road network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoRep {
    /// The CRM's owner id (`reps.crm_owner_id`), e.g. `owner-1`.
    pub crm_owner_id: String,
    pub name: String,
    pub email: String,
    /// Home base longitude, WGS84 degrees.
    pub home_lon: f64,
    /// Home base latitude, WGS84 degrees.
    pub home_lat: f64,
    /// Local time `HH:MM`.
    pub work_start: String,
    /// Local time `HH:MM`.
    pub work_end: String,
}

/// A CRM account: a real OSM business or a synthetic prospect on a real building.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoAccount {
    /// The connection the account belongs to: [`DEMO_HUBSPOT_SOURCE`] for real businesses,
    /// [`DEMO_SALESFORCE_SOURCE`] for synthetic prospects.
    pub crm_source: String,
    /// The record id in that CRM: a HubSpot company id (digits) or an 18-character
    /// Salesforce `Account` id. Stable while the extract is unchanged.
    pub crm_id: String,
    pub name: String,
    /// OSM key:value that made it business-like (e.g. `shop:bakery`), or `prospect:<kind>`.
    pub industry: String,
    /// True for invented prospects; false for businesses present in OpenStreetMap.
    pub synthetic: bool,
    /// `node/<id>` or `way/<id>` of the OSM object it sits on.
    pub osm_ref: String,
    pub address: DemoAddress,
    /// Longitude, WGS84 degrees.
    pub lon: f64,
    /// Latitude, WGS84 degrees.
    pub lat: f64,
    /// `A`, `B` or `C`.
    pub tier: String,
    /// Yearly value in euros.
    pub annual_value: u32,
    pub visits_per_year: u16,
    /// 1 (highest) to 5.
    pub priority: u8,
    /// `crm_owner_id` of the owning rep.
    pub owner_crm_id: String,
}

/// Structured postal address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoAddress {
    pub house_number: Option<String>,
    pub street: String,
    pub postal_code: Option<String>,
    pub city: String,
    /// ISO 3166-1 alpha-2, e.g. `MC` or `FR`.
    pub country_code: String,
    /// True when the address came from the object's own `addr:*` tags; false when it was
    /// built from the nearest named street and the place it lies in.
    pub from_osm_tags: bool,
}
