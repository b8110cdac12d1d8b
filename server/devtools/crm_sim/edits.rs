//! Random edits as users make them in the CRMs (renames, tier, value, owner and address
//! changes, new records, deletions, HubSpot merges and restores), each with the webhooks the
//! vendor would send.

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use terrane::seed::dataset::{DemoAccount, DemoAddress};

use crate::store::{
    Account, SfValue, Store, hubspot_properties, salesforce_values, street_of, synthetic_record,
};
use crate::webhooks::{ChangeSource, HubSpotChange, Outgoing};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditKind {
    Name,
    Tier,
    AnnualValue,
    Owner,
    Address,
    Create,
    Delete,
    Merge,
    Restore,
}

impl EditKind {
    pub const ALL: [EditKind; 9] = [
        EditKind::Name,
        EditKind::Tier,
        EditKind::AnnualValue,
        EditKind::Owner,
        EditKind::Address,
        EditKind::Create,
        EditKind::Delete,
        EditKind::Merge,
        EditKind::Restore,
    ];

    /// Relative frequency: property changes are common, structural changes rare.
    fn weight(self) -> u32 {
        match self {
            EditKind::Name | EditKind::AnnualValue => 6,
            EditKind::Tier | EditKind::Owner | EditKind::Address => 4,
            EditKind::Create | EditKind::Delete => 2,
            EditKind::Merge | EditKind::Restore => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crm {
    HubSpot,
    Salesforce,
}

/// One applied edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedEdit {
    pub crm: Crm,
    pub kind: EditKind,
    /// The record edited (the primary, for a merge).
    pub id: String,
}

fn applicable(store: &Store, crm: Crm, kind: EditKind) -> bool {
    match crm {
        Crm::HubSpot => {
            let live = store.live_company_count();
            match kind {
                EditKind::Create => true,
                EditKind::Merge => live >= 2,
                EditKind::Restore => store.archived_company_count() > 0,
                _ => live >= 1,
            }
        }
        Crm::Salesforce => match kind {
            EditKind::Create => true,
            // Salesforce has no merge webhook, and restores are not simulated.
            EditKind::Merge | EditKind::Restore => false,
            _ => store.live_account_count() > 0,
        },
    }
}

/// Performs one random edit allowed by `kinds` and `crm` (all when empty / `None`); `None`
/// when no allowed edit applies (e.g. only `restore` with nothing deleted).
pub fn random_edit(
    store: &mut Store,
    rng: &mut impl Rng,
    kinds: &[EditKind],
    crm: Option<Crm>,
    now_ms: i64,
) -> Option<(AppliedEdit, Vec<Outgoing>)> {
    let kinds: &[EditKind] = if kinds.is_empty() {
        &EditKind::ALL
    } else {
        kinds
    };
    let crms: &[Crm] = match crm {
        Some(Crm::HubSpot) => &[Crm::HubSpot],
        Some(Crm::Salesforce) => &[Crm::Salesforce],
        None => &[Crm::HubSpot, Crm::Salesforce],
    };
    let choices: Vec<(Crm, EditKind)> = crms
        .iter()
        .flat_map(|c| kinds.iter().map(move |k| (*c, *k)))
        .filter(|(c, k)| applicable(store, *c, *k))
        .collect();
    let total: u32 = choices.iter().map(|(_, k)| k.weight()).sum();
    if total == 0 {
        return None;
    }
    let mut roll = rng.random_range(0..total);
    let (crm, kind) = *choices.iter().find(|(_, k)| {
        if roll < k.weight() {
            true
        } else {
            roll -= k.weight();
            false
        }
    })?;
    match crm {
        Crm::HubSpot => hubspot_edit(store, rng, kind, now_ms),
        Crm::Salesforce => salesforce_edit(store, rng, kind, now_ms),
    }
}

const NAME_SUFFIXES: &[&str] = &[" SARL", " & Fils", " Monaco", " (Riviera)"];

/// Adds a suffix to a name, or removes the one it has, so names do not grow without end.
fn renamed(name: &str, rng: &mut impl Rng) -> String {
    match NAME_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        Some(suffix) => name[..name.len() - suffix.len()].to_owned(),
        None => format!(
            "{name}{}",
            NAME_SUFFIXES[rng.random_range(0..NAME_SUFFIXES.len())]
        ),
    }
}

fn other_tier(current: Option<&str>, rng: &mut impl Rng) -> String {
    let options: Vec<&str> = ["A", "B", "C"]
        .into_iter()
        .filter(|t| Some(*t) != current)
        .collect();
    options[rng.random_range(0..options.len())].to_owned()
}

/// A value 20 % lower to 25 % higher, in tens, never equal to the current one.
fn other_value(current: f64, rng: &mut impl Rng) -> f64 {
    let factor: f64 = rng.random_range(0.8..1.25);
    let next = ((current.max(100.0) * factor) / 10.0).round() * 10.0;
    if next == current { next + 10.0 } else { next }
}

fn other_owner(store: &Store, current: Option<&str>, rng: &mut impl Rng) -> String {
    let options: Vec<&String> = store
        .owners
        .iter()
        .filter(|o| Some(o.as_str()) != current)
        .collect();
    if options.is_empty() {
        return current.unwrap_or("owner-1").to_owned();
    }
    options[rng.random_range(0..options.len())].clone()
}

/// The same street with a different house number.
fn moved_address(line: &str, rng: &mut impl Rng) -> String {
    let street = street_of(line);
    loop {
        let candidate = format!("{} {street}", rng.random_range(1..200u32));
        if candidate != line {
            return candidate;
        }
    }
}

/// A new record on the street of an existing one (a made-up street when there is none).
fn new_record(store: &Store, rng: &mut impl Rng) -> DemoAccount {
    let mut templates = Vec::new();
    if let Some(c) = store
        .random_live_company(rng)
        .and_then(|id| store.companies.get(&id))
    {
        templates.push(DemoAccount {
            crm_source: String::new(),
            crm_id: String::new(),
            name: String::new(),
            industry: c.property("industry").unwrap_or_default(),
            synthetic: true,
            osm_ref: String::new(),
            address: DemoAddress {
                house_number: None,
                street: street_of(&c.property("address").unwrap_or_default()).to_owned(),
                postal_code: c.property("zip"),
                city: c.property("city").unwrap_or_default(),
                country_code: c.property("country").unwrap_or_default(),
                from_osm_tags: false,
            },
            lon: 0.0,
            lat: 0.0,
            tier: String::new(),
            annual_value: 0,
            visits_per_year: 0,
            priority: 3,
            owner_crm_id: String::new(),
        });
    }
    let n = store.companies.len() + store.accounts.len();
    let mut record = synthetic_record(rng, &templates, &store.owners, n);
    if let Some(t) = templates.first().filter(|t| !t.industry.is_empty()) {
        record.industry.clone_from(&t.industry);
    }
    record
}

fn hubspot_edit(
    store: &mut Store,
    rng: &mut impl Rng,
    kind: EditKind,
    now_ms: i64,
) -> Option<(AppliedEdit, Vec<Outgoing>)> {
    let (id, changes) = match kind {
        EditKind::Create => {
            let record = new_record(store, rng);
            let id = store.hubspot_create(hubspot_properties(&record), now_ms);
            (id, vec![HubSpotChange::Creation])
        }
        EditKind::Delete => {
            let id = store.random_live_company(rng)?;
            store.hubspot_archive(id, now_ms).then_some(())?;
            (id, vec![HubSpotChange::Deletion])
        }
        EditKind::Restore => {
            let id = store.random_archived_company(rng)?;
            store.hubspot_restore(id, now_ms).then_some(())?;
            (id, vec![HubSpotChange::Restore])
        }
        EditKind::Merge => {
            let primary = store.random_live_company(rng)?;
            let secondary = loop {
                let candidate = store.random_live_company(rng)?;
                if candidate != primary {
                    break candidate;
                }
            };
            let moved = store.hubspot_merge(primary, secondary, now_ms)?;
            (
                primary,
                vec![HubSpotChange::Merge {
                    merged: vec![secondary],
                    moved,
                }],
            )
        }
        EditKind::Name
        | EditKind::Tier
        | EditKind::AnnualValue
        | EditKind::Owner
        | EditKind::Address => {
            let id = store.random_live_company(rng)?;
            let company = store.companies.get(&id)?;
            let (name, value) = match kind {
                EditKind::Name => (
                    "name",
                    renamed(&company.property("name").unwrap_or_default(), rng),
                ),
                EditKind::Tier => (
                    "terrane_tier",
                    other_tier(company.property("terrane_tier").as_deref(), rng),
                ),
                EditKind::AnnualValue => {
                    let current = company
                        .property("terrane_annual_value")
                        .and_then(|v| v.parse::<f64>().ok())
                        .unwrap_or(10_000.0);
                    (
                        "terrane_annual_value",
                        format!("{}", other_value(current, rng)),
                    )
                }
                EditKind::Owner => (
                    "hubspot_owner_id",
                    other_owner(store, company.property("hubspot_owner_id").as_deref(), rng),
                ),
                _ => (
                    "address",
                    moved_address(&company.property("address").unwrap_or_default(), rng),
                ),
            };
            let update = BTreeMap::from([(name.to_owned(), Some(value))]);
            let changed = store.hubspot_update(id, &update, now_ms)?;
            let changes = changed
                .into_iter()
                .map(|(name, value)| HubSpotChange::PropertyChange { name, value })
                .collect();
            (id, changes)
        }
    };
    let at = store.companies.get(&id).map_or(now_ms, |c| c.updated_ms);
    let outgoing = changes
        .into_iter()
        .map(|change| Outgoing::HubSpot(store.events.hubspot(id, change, at, ChangeSource::CrmUi)))
        .collect();
    Some((
        AppliedEdit {
            crm: Crm::HubSpot,
            kind,
            id: id.to_string(),
        },
        outgoing,
    ))
}

/// A CRM user gives record `id` the owner `owner`, with the webhooks the vendor sends; `None`
/// when there is no such live record.
pub fn set_owner(
    store: &mut Store,
    crm: Crm,
    id: &str,
    owner: &str,
    now_ms: i64,
) -> Option<Vec<Outgoing>> {
    match crm {
        Crm::HubSpot => {
            let company = id.parse::<u64>().ok()?;
            let update = BTreeMap::from([("hubspot_owner_id".to_owned(), Some(owner.to_owned()))]);
            let changed = store.hubspot_update(company, &update, now_ms)?;
            let at = store
                .companies
                .get(&company)
                .map_or(now_ms, |c| c.updated_ms);
            Some(
                changed
                    .into_iter()
                    .map(|(name, value)| {
                        Outgoing::HubSpot(store.events.hubspot(
                            company,
                            HubSpotChange::PropertyChange { name, value },
                            at,
                            ChangeSource::CrmUi,
                        ))
                    })
                    .collect(),
            )
        }
        Crm::Salesforce => {
            let update = BTreeMap::from([("OwnerId", Some(SfValue::Text(owner.to_owned())))]);
            store.salesforce_update(id, &update, now_ms).then_some(())?;
            let fields = store.accounts.get(id)?.outbound_fields();
            Some(vec![Outgoing::Salesforce(store.events.salesforce(fields))])
        }
    }
}

fn salesforce_edit(
    store: &mut Store,
    rng: &mut impl Rng,
    kind: EditKind,
    now_ms: i64,
) -> Option<(AppliedEdit, Vec<Outgoing>)> {
    let text = |account: &Account, name: &str| match account.values.get(name) {
        Some(SfValue::Text(s)) => Some(s.clone()),
        _ => None,
    };
    let id = match kind {
        EditKind::Create => {
            let record = new_record(store, rng);
            store.salesforce_create(salesforce_values(&record), now_ms)
        }
        EditKind::Delete => {
            let id = store.random_live_account(rng)?;
            store.salesforce_delete(&id, now_ms).then_some(())?;
            // Outbound Messages fire on create and update only: deletions send nothing.
            return Some((
                AppliedEdit {
                    crm: Crm::Salesforce,
                    kind,
                    id,
                },
                Vec::new(),
            ));
        }
        EditKind::Merge | EditKind::Restore => return None,
        EditKind::Name
        | EditKind::Tier
        | EditKind::AnnualValue
        | EditKind::Owner
        | EditKind::Address => {
            let id = store.random_live_account(rng)?;
            let account = store.accounts.get(&id)?;
            let (field, value): (&'static str, SfValue) = match kind {
                EditKind::Name => (
                    "Name",
                    SfValue::Text(renamed(&text(account, "Name").unwrap_or_default(), rng)),
                ),
                EditKind::Tier => (
                    "Terrane_Tier__c",
                    SfValue::Text(other_tier(text(account, "Terrane_Tier__c").as_deref(), rng)),
                ),
                EditKind::AnnualValue => {
                    let current = match account.values.get("Terrane_Annual_Value__c") {
                        Some(SfValue::Number(n)) => *n,
                        _ => 10_000.0,
                    };
                    (
                        "Terrane_Annual_Value__c",
                        SfValue::Number(other_value(current, rng)),
                    )
                }
                EditKind::Owner => (
                    "OwnerId",
                    SfValue::Text(other_owner(store, text(account, "OwnerId").as_deref(), rng)),
                ),
                _ => (
                    "BillingStreet",
                    SfValue::Text(moved_address(
                        &text(account, "BillingStreet").unwrap_or_default(),
                        rng,
                    )),
                ),
            };
            let update = BTreeMap::from([(field, Some(value))]);
            store
                .salesforce_update(&id, &update, now_ms)
                .then_some(())?;
            id
        }
    };
    let fields = store.accounts.get(&id)?.outbound_fields();
    let notification = store.events.salesforce(fields);
    Some((
        AppliedEdit {
            crm: Crm::Salesforce,
            kind,
            id,
        },
        vec![Outgoing::Salesforce(notification)],
    ))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::store::tests::store_with;

    #[test]
    fn every_kind_applies_and_emits_the_vendors_events() {
        let mut store = store_with(10);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for kind in EditKind::ALL {
            for crm in [Crm::HubSpot, Crm::Salesforce] {
                let result = random_edit(&mut store, &mut rng, &[kind], Some(crm), 0);
                let both_crms = kind != EditKind::Merge && kind != EditKind::Restore;
                if crm == Crm::Salesforce && !both_crms {
                    assert!(result.is_none(), "{kind:?} is HubSpot only");
                    continue;
                }
                let (edit, outgoing) = result.expect("applies");
                assert_eq!((edit.crm, edit.kind), (crm, kind));
                match (crm, kind) {
                    (Crm::Salesforce, EditKind::Delete) => assert!(outgoing.is_empty()),
                    (Crm::HubSpot, _) => {
                        assert_eq!(outgoing.len(), 1);
                        let Outgoing::HubSpot(event) = &outgoing[0] else {
                            panic!("a HubSpot event");
                        };
                        let expected = match kind {
                            EditKind::Create => "company.creation",
                            EditKind::Delete => "company.deletion",
                            EditKind::Merge => "company.merge",
                            EditKind::Restore => "company.restore",
                            _ => "company.propertyChange",
                        };
                        assert_eq!(event.subscription_type, expected);
                        assert_eq!(event.object_id.to_string(), edit.id);
                    }
                    (Crm::Salesforce, _) => {
                        let Some(Outgoing::Salesforce(n)) = outgoing.first() else {
                            panic!("a notification");
                        };
                        assert_eq!(n.fields[0], ("Id", Some(edit.id.clone())));
                    }
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_edits() {
        let run = || {
            let mut store = store_with(20);
            let mut rng = ChaCha8Rng::seed_from_u64(42);
            (0..50)
                .filter_map(|_| random_edit(&mut store, &mut rng, &[], None, 0).map(|(e, _)| e))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn restore_needs_a_deleted_company() {
        let mut store = store_with(2);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(random_edit(&mut store, &mut rng, &[EditKind::Restore], None, 0).is_none());
    }

    #[test]
    fn renames_toggle_a_suffix() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let once = renamed("Café Azur", &mut rng);
        assert_ne!(once, "Café Azur");
        assert_eq!(renamed(&once, &mut rng), "Café Azur");
    }
}
