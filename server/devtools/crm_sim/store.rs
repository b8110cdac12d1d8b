//! The records of both simulated CRMs (HubSpot companies, Salesforce accounts), how they are
//! loaded, and the mutations that API writes and random edits share.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use anyhow::{Context, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use terrane::seed::dataset::{
    DEMO_HUBSPOT_SOURCE, DEMO_SALESFORCE_SOURCE, DemoAccount, DemoAddress, DemoDataset,
};

use crate::clock::{self, Clock};
use crate::ids;
use crate::vendor::{HUBSPOT_READ_ONLY, HUBSPOT_WRITABLE};
use crate::webhooks::EventFactory;

// ---------------------------------------------------------------------------------------------
// HubSpot companies

/// What a list or read returns when the request names no properties (as HubSpot does).
pub const HUBSPOT_DEFAULT_PROPERTIES: &[&str] = &[
    "name",
    "domain",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
];

/// Returned whatever properties were asked for.
const HUBSPOT_ALWAYS: &[&str] = &["createdate", "hs_lastmodifieddate", "hs_object_id"];

/// Whether HubSpot knows the property (unknown ones are silently left out of reads).
pub fn is_hubspot_property(name: &str) -> bool {
    HUBSPOT_WRITABLE.contains(&name) || HUBSPOT_READ_ONLY.contains(&name)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanyStatus {
    Live,
    Archived { at_ms: i64 },
    MergedInto { primary: u64 },
}

#[derive(Debug, Clone)]
pub struct Company {
    pub id: u64,
    /// Set writable properties; an absent key reads as null.
    pub properties: BTreeMap<String, String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub status: CompanyStatus,
    /// Companies merged into this one.
    pub merged_ids: Vec<u64>,
}

impl Company {
    /// A property's value as HubSpot reports it (always a string, or null).
    pub fn property(&self, name: &str) -> Option<String> {
        match name {
            "hs_object_id" => Some(self.id.to_string()),
            "createdate" => Some(clock::hubspot_time(self.created_ms)),
            "hs_lastmodifieddate" => Some(clock::hubspot_time(self.updated_ms)),
            "hs_merged_object_ids" => (!self.merged_ids.is_empty()).then(|| {
                self.merged_ids
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(";")
            }),
            _ => self.properties.get(name).cloned(),
        }
    }

    pub fn is_live(&self) -> bool {
        self.status == CompanyStatus::Live
    }

    /// Deleted (and restorable), as opposed to merged away.
    pub fn is_archived(&self) -> bool {
        matches!(self.status, CompanyStatus::Archived { .. })
    }

    /// The API's object shape with the requested properties (`None` = HubSpot's defaults).
    pub fn to_json(&self, requested: Option<&[String]>) -> Value {
        let mut properties = Map::new();
        let mut put = |name: &str| {
            if is_hubspot_property(name) && !properties.contains_key(name) {
                properties.insert(
                    name.to_owned(),
                    self.property(name).map_or(Value::Null, Value::String),
                );
            }
        };
        match requested {
            Some(names) => {
                for name in names {
                    put(name);
                }
                for name in HUBSPOT_ALWAYS {
                    put(name);
                }
            }
            None => {
                for name in HUBSPOT_DEFAULT_PROPERTIES {
                    put(name);
                }
            }
        }
        let mut object = json!({
            "id": self.id.to_string(),
            "properties": properties,
            "createdAt": clock::hubspot_time(self.created_ms),
            "updatedAt": clock::hubspot_time(self.updated_ms),
            "archived": !self.is_live(),
        });
        if let (CompanyStatus::Archived { at_ms }, Some(map)) =
            (&self.status, object.as_object_mut())
        {
            map.insert(
                "archivedAt".into(),
                Value::String(clock::hubspot_time(*at_ms)),
            );
        }
        object
    }

    /// Every set property plus the computed ones, for `/_sim/state`.
    pub fn state_json(&self) -> Value {
        let mut properties = Map::new();
        for name in HUBSPOT_WRITABLE.iter().chain(HUBSPOT_READ_ONLY) {
            if let Some(value) = self.property(name) {
                properties.insert((*name).to_owned(), Value::String(value));
            }
        }
        json!({
            "id": self.id.to_string(),
            "properties": properties,
            "updatedAt": clock::hubspot_time(self.updated_ms),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Salesforce accounts

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Id,
    Text,
    Number,
    DateTime,
    Bool,
}

#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub kind: FieldKind,
    pub updateable: bool,
}

const fn field(name: &'static str, kind: FieldKind, updateable: bool) -> FieldDef {
    FieldDef {
        name,
        kind,
        updateable,
    }
}

/// The `Account` fields the simulator knows; others are `INVALID_FIELD`.
pub const ACCOUNT_FIELDS: &[FieldDef] = &[
    field("Id", FieldKind::Id, false),
    field("Name", FieldKind::Text, true),
    field("Industry", FieldKind::Text, true),
    field("Type", FieldKind::Text, true),
    field("Phone", FieldKind::Text, true),
    field("Website", FieldKind::Text, true),
    field("BillingStreet", FieldKind::Text, true),
    field("BillingPostalCode", FieldKind::Text, true),
    field("BillingCity", FieldKind::Text, true),
    field("BillingState", FieldKind::Text, true),
    field("BillingCountry", FieldKind::Text, true),
    field("BillingCountryCode", FieldKind::Text, true),
    field("OwnerId", FieldKind::Text, true),
    field("CreatedDate", FieldKind::DateTime, false),
    field("LastModifiedDate", FieldKind::DateTime, false),
    field("SystemModstamp", FieldKind::DateTime, false),
    field("IsDeleted", FieldKind::Bool, false),
    field("Terrane_Tier__c", FieldKind::Text, true),
    field("Terrane_Annual_Value__c", FieldKind::Number, true),
    field("Terrane_Visits_Per_Year__c", FieldKind::Number, true),
    field("Terrane_Priority__c", FieldKind::Number, true),
];

/// Fields sent in Outbound Messages, in order.
pub const OUTBOUND_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Industry",
    "BillingStreet",
    "BillingPostalCode",
    "BillingCity",
    "BillingCountry",
    "BillingCountryCode",
    "OwnerId",
    "LastModifiedDate",
    "Terrane_Tier__c",
    "Terrane_Annual_Value__c",
    "Terrane_Visits_Per_Year__c",
    "Terrane_Priority__c",
];

/// A field by name, case-insensitively as in SOQL and the REST API.
pub fn account_field(name: &str) -> Option<&'static FieldDef> {
    ACCOUNT_FIELDS
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
}

/// A stored value of an updateable field.
#[derive(Debug, Clone, PartialEq)]
pub enum SfValue {
    Text(String),
    Number(f64),
}

/// Any field's value as read.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Null,
    Text(String),
    Number(f64),
    DateTime(i64),
    Bool(bool),
}

impl FieldValue {
    /// The REST API's JSON.
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Null => Value::Null,
            FieldValue::Text(s) => Value::String(s.clone()),
            FieldValue::Number(n) => json!(n),
            FieldValue::DateTime(ms) => Value::String(clock::salesforce_time(*ms)),
            FieldValue::Bool(b) => Value::Bool(*b),
        }
    }

    /// The text of a SOAP element; `None` for `xsi:nil`.
    pub fn to_soap(&self) -> Option<String> {
        match self {
            FieldValue::Null => None,
            FieldValue::Text(s) => Some(s.clone()),
            FieldValue::Number(n) => Some(format!("{n:?}")),
            FieldValue::DateTime(ms) => Some(clock::soap_time(*ms)),
            FieldValue::Bool(b) => Some(b.to_string()),
        }
    }
}

/// The country name Salesforce shows for an ISO code (the code itself when not listed).
fn country_name(code: &str) -> &str {
    match code {
        "MC" => "Monaco",
        "FR" => "France",
        "IT" => "Italy",
        "DE" => "Germany",
        "ES" => "Spain",
        "BE" => "Belgium",
        "CH" => "Switzerland",
        "GB" => "United Kingdom",
        "US" => "United States",
        other => other,
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    /// 18 characters.
    pub id: String,
    /// Set updateable fields, keyed by their canonical names.
    pub values: BTreeMap<&'static str, SfValue>,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub deleted: bool,
}

impl Account {
    pub fn get(&self, field: &FieldDef) -> FieldValue {
        match field.name {
            "Id" => FieldValue::Text(self.id.clone()),
            "CreatedDate" => FieldValue::DateTime(self.created_ms),
            "LastModifiedDate" | "SystemModstamp" => FieldValue::DateTime(self.modified_ms),
            "IsDeleted" => FieldValue::Bool(self.deleted),
            // With State and Country picklists, the name follows the code.
            "BillingCountry" if !self.values.contains_key("BillingCountry") => {
                match self.values.get("BillingCountryCode") {
                    Some(SfValue::Text(code)) => FieldValue::Text(country_name(code).to_owned()),
                    _ => FieldValue::Null,
                }
            }
            name => match self.values.get(name) {
                None => FieldValue::Null,
                Some(SfValue::Text(s)) => FieldValue::Text(s.clone()),
                Some(SfValue::Number(n)) => FieldValue::Number(*n),
            },
        }
    }

    fn get_named(&self, name: &str) -> FieldValue {
        account_field(name).map_or(FieldValue::Null, |f| self.get(f))
    }

    /// `attributes` as the REST API sends them.
    pub fn attributes(&self, api_version: &str) -> Value {
        json!({
            "type": "Account",
            "url": format!("/services/data/{api_version}/sobjects/Account/{}", self.id),
        })
    }

    /// The REST shape with the given fields.
    pub fn to_json(&self, fields: &[&FieldDef], api_version: &str) -> Value {
        let mut map = Map::new();
        map.insert("attributes".into(), self.attributes(api_version));
        for f in fields {
            map.insert(f.name.to_owned(), self.get(f).to_json());
        }
        Value::Object(map)
    }

    /// Every field with a value, for `/_sim/state`.
    pub fn state_json(&self) -> Value {
        let mut map = Map::new();
        for f in ACCOUNT_FIELDS {
            let value = self.get(f);
            if value != FieldValue::Null {
                map.insert(f.name.to_owned(), value.to_json());
            }
        }
        Value::Object(map)
    }

    /// `(field, SOAP text)` pairs of an Outbound Message.
    pub fn outbound_fields(&self) -> Vec<(&'static str, Option<String>)> {
        OUTBOUND_FIELDS
            .iter()
            .map(|name| (*name, self.get_named(name).to_soap()))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The store

/// A set with uniform random picks in constant time, so random edits stay cheap on stores of
/// hundreds of thousands of records. Picks depend only on the order of inserts and removals.
#[derive(Debug, Clone)]
pub struct Pool<K> {
    items: Vec<K>,
    index: HashMap<K, usize>,
}

impl<K> Default for Pool<K> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> Pool<K> {
    pub fn insert(&mut self, key: K) {
        if !self.index.contains_key(&key) {
            self.index.insert(key.clone(), self.items.len());
            self.items.push(key);
        }
    }

    pub fn remove(&mut self, key: &K) {
        let Some(position) = self.index.remove(key) else {
            return;
        };
        self.items.swap_remove(position);
        if let Some(moved) = self.items.get(position) {
            self.index.insert(moved.clone(), position);
        }
    }

    pub fn random(&self, rng: &mut impl Rng) -> Option<&K> {
        if self.items.is_empty() {
            return None;
        }
        self.items.get(rng.random_range(0..self.items.len()))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

/// Both CRMs' records. One mutex guards it; no method awaits.
#[derive(Debug)]
pub struct Store {
    pub clock: Clock,
    pub companies: BTreeMap<u64, Company>,
    pub accounts: BTreeMap<String, Account>,
    /// Owner ids of the reps, for owner changes and new records.
    pub owners: Vec<String>,
    /// Allocates webhook event and notification ids.
    pub events: EventFactory,
    /// Records written through the API (batch update, collections update): id -> writes,
    /// per CRM, so a test can tell a retried write from a doubled one.
    pub api_writes: ApiWrites,
    live_company_ids: Pool<u64>,
    archived_company_ids: Pool<u64>,
    live_account_ids: Pool<String>,
    next_company_id: u64,
    next_account: u64,
}

/// How often each record was written through the API, by id.
#[derive(Debug, Clone, Default)]
pub struct ApiWrites {
    pub hubspot: BTreeMap<String, u64>,
    pub salesforce: BTreeMap<String, u64>,
}

/// Everything needed to rebuild the initial records on `/_sim/reset`.
#[derive(Debug, Clone)]
pub struct Seed {
    pub dataset: Option<DemoDataset>,
    pub synthetic: usize,
    pub rng_seed: u64,
}

/// Instance part of the Account ids the simulator creates (the dataset's use another).
const NEW_ACCOUNT_INSTANCE: &str = "Sm0000";
/// First id of companies created at run time, when the dataset's are lower.
const FIRST_NEW_COMPANY_ID: u64 = 30_000_001;

impl Store {
    pub fn new(events: EventFactory) -> Self {
        Self {
            clock: Clock::default(),
            companies: BTreeMap::new(),
            accounts: BTreeMap::new(),
            owners: (1..=6).map(|n| format!("owner-{n}")).collect(),
            events,
            api_writes: ApiWrites::default(),
            live_company_ids: Pool::default(),
            archived_company_ids: Pool::default(),
            live_account_ids: Pool::default(),
            next_company_id: FIRST_NEW_COMPANY_ID,
            next_account: 1,
        }
    }

    /// Loads the dataset and the synthetic records. Loaded records were created and last
    /// modified a day before `now_ms`, all at the same time.
    pub fn load(events: EventFactory, seed: &Seed, now_ms: i64) -> anyhow::Result<Self> {
        let mut store = Self::new(events);
        let loaded_ms = now_ms - 86_400_000;
        store.clock.tick(loaded_ms);
        if let Some(ds) = &seed.dataset {
            if !ds.reps.is_empty() {
                store.owners = ds.reps.iter().map(|r| r.crm_owner_id.clone()).collect();
            }
            for account in &ds.accounts {
                store
                    .insert_demo(account, loaded_ms)
                    .with_context(|| format!("dataset account {}", account.crm_id))?;
            }
        }
        let templates: Vec<DemoAccount> = seed
            .dataset
            .as_ref()
            .map(|ds| ds.accounts.clone())
            .unwrap_or_default();
        let mut rng = ChaCha8Rng::seed_from_u64(seed.rng_seed);
        for n in 0..seed.synthetic {
            let record = synthetic_record(&mut rng, &templates, &store.owners, n);
            if n % 2 == 0 {
                store.insert_company(hubspot_properties(&record), loaded_ms);
            } else {
                store.insert_account(salesforce_values(&record), loaded_ms);
            }
        }
        Ok(store)
    }

    fn insert_demo(&mut self, account: &DemoAccount, at_ms: i64) -> anyhow::Result<()> {
        match account.crm_source.as_str() {
            DEMO_HUBSPOT_SOURCE => {
                let id: u64 = account
                    .crm_id
                    .parse()
                    .context("a HubSpot company id must be digits")?;
                if self.companies.contains_key(&id) {
                    bail!("duplicate HubSpot company id");
                }
                self.companies.insert(
                    id,
                    Company {
                        id,
                        properties: hubspot_properties(account),
                        created_ms: at_ms,
                        updated_ms: at_ms,
                        status: CompanyStatus::Live,
                        merged_ids: Vec::new(),
                    },
                );
                self.live_company_ids.insert(id);
                self.next_company_id = self.next_company_id.max(id + 1);
            }
            DEMO_SALESFORCE_SOURCE => {
                let id = ids::salesforce_id18(&account.crm_id)
                    .context("a Salesforce id must be 15 or 18 letters and digits")?;
                if self.accounts.contains_key(&id) {
                    bail!("duplicate Salesforce account id");
                }
                self.live_account_ids.insert(id.clone());
                self.accounts.insert(
                    id.clone(),
                    Account {
                        id,
                        values: salesforce_values(account),
                        created_ms: at_ms,
                        modified_ms: at_ms,
                        deleted: false,
                    },
                );
            }
            other => bail!("unknown crm_source {other:?}"),
        }
        Ok(())
    }

    fn insert_company(&mut self, properties: BTreeMap<String, String>, at_ms: i64) -> u64 {
        let id = self.next_company_id;
        self.next_company_id += 1;
        self.live_company_ids.insert(id);
        self.companies.insert(
            id,
            Company {
                id,
                properties,
                created_ms: at_ms,
                updated_ms: at_ms,
                status: CompanyStatus::Live,
                merged_ids: Vec::new(),
            },
        );
        id
    }

    fn insert_account(&mut self, values: BTreeMap<&'static str, SfValue>, at_ms: i64) -> String {
        let id = loop {
            let candidate = ids::salesforce_id("001", NEW_ACCOUNT_INSTANCE, self.next_account);
            self.next_account += 1;
            if !self.accounts.contains_key(&candidate) {
                break candidate;
            }
        };
        self.live_account_ids.insert(id.clone());
        self.accounts.insert(
            id.clone(),
            Account {
                id: id.clone(),
                values,
                created_ms: at_ms,
                modified_ms: at_ms,
                deleted: false,
            },
        );
        id
    }

    /// Reloads the initial records. Event ids, new-record ids and the clock carry on from
    /// where they were, so nothing issued before the reset is issued again.
    pub fn reset(&mut self, seed: &Seed, now_ms: i64) -> anyhow::Result<()> {
        let mut fresh = Store::load(self.events.clone(), seed, now_ms)?;
        fresh.clock = self.clock.clone();
        fresh.next_company_id = fresh.next_company_id.max(self.next_company_id);
        fresh.next_account = fresh.next_account.max(self.next_account);
        *self = fresh;
        Ok(())
    }

    /// The next modification time.
    pub fn tick(&mut self, now_ms: i64) -> i64 {
        self.clock.tick(now_ms)
    }

    // --- HubSpot mutations ---------------------------------------------------------------

    /// Creates a live company; returns its id.
    pub fn hubspot_create(&mut self, properties: BTreeMap<String, String>, now_ms: i64) -> u64 {
        let at = self.tick(now_ms);
        self.insert_company(properties, at)
    }

    /// Sets (`Some`) or clears (`None` or empty) properties of a live company; returns the
    /// properties whose value changed, with their new value ("" when cleared). The modified
    /// time moves only when something changed.
    pub fn hubspot_update(
        &mut self,
        id: u64,
        changes: &BTreeMap<String, Option<String>>,
        now_ms: i64,
    ) -> Option<Vec<(String, String)>> {
        let company = self.companies.get(&id).filter(|c| c.is_live())?;
        let changed: Vec<(String, String)> = changes
            .iter()
            .filter_map(|(name, value)| {
                let new = value.clone().filter(|v| !v.is_empty());
                (company.properties.get(name) != new.as_ref())
                    .then(|| (name.clone(), new.unwrap_or_default()))
            })
            .collect();
        if changed.is_empty() {
            return Some(changed);
        }
        let at = self.tick(now_ms);
        let company = self.companies.get_mut(&id)?;
        for (name, value) in &changed {
            if value.is_empty() {
                company.properties.remove(name);
            } else {
                company.properties.insert(name.clone(), value.clone());
            }
        }
        company.updated_ms = at;
        Some(changed)
    }

    /// Archives a live company; false if it is not live.
    pub fn hubspot_archive(&mut self, id: u64, now_ms: i64) -> bool {
        if !self.companies.get(&id).is_some_and(Company::is_live) {
            return false;
        }
        let at = self.tick(now_ms);
        if let Some(company) = self.companies.get_mut(&id) {
            company.status = CompanyStatus::Archived { at_ms: at };
            company.updated_ms = at;
        }
        self.live_company_ids.remove(&id);
        self.archived_company_ids.insert(id);
        true
    }

    /// Restores an archived company; false if it is not archived.
    pub fn hubspot_restore(&mut self, id: u64, now_ms: i64) -> bool {
        let archived = self
            .companies
            .get(&id)
            .is_some_and(|c| matches!(c.status, CompanyStatus::Archived { .. }));
        if !archived {
            return false;
        }
        let at = self.tick(now_ms);
        if let Some(company) = self.companies.get_mut(&id) {
            company.status = CompanyStatus::Live;
            company.updated_ms = at;
        }
        self.archived_company_ids.remove(&id);
        self.live_company_ids.insert(id);
        true
    }

    /// Merges `secondary` into `primary` (both live, distinct): the primary takes the
    /// secondary's values for the properties it lacks, the secondary disappears. Returns the
    /// number of properties moved.
    pub fn hubspot_merge(&mut self, primary: u64, secondary: u64, now_ms: i64) -> Option<u32> {
        if primary == secondary {
            return None;
        }
        let from = self
            .companies
            .get(&secondary)
            .filter(|c| c.is_live())?
            .clone();
        self.companies.get(&primary).filter(|c| c.is_live())?;
        let at = self.tick(now_ms);
        let target = self.companies.get_mut(&primary)?;
        let mut moved = 0u32;
        for (name, value) in &from.properties {
            if !target.properties.contains_key(name) {
                target.properties.insert(name.clone(), value.clone());
                moved += 1;
            }
        }
        target.merged_ids.push(secondary);
        target.merged_ids.extend(from.merged_ids.iter().copied());
        target.updated_ms = at;
        if let Some(gone) = self.companies.get_mut(&secondary) {
            gone.status = CompanyStatus::MergedInto { primary };
            gone.updated_ms = at;
        }
        self.live_company_ids.remove(&secondary);
        Some(moved)
    }

    /// The live company an id designates, following merges (HubSpot answers reads of a
    /// merged-away id with the company it was merged into).
    pub fn hubspot_resolve(&self, id: u64) -> Option<&Company> {
        let mut current = self.companies.get(&id)?;
        for _ in 0..64 {
            match current.status {
                CompanyStatus::Live => return Some(current),
                CompanyStatus::Archived { .. } => return None,
                CompanyStatus::MergedInto { primary } => current = self.companies.get(&primary)?,
            }
        }
        None
    }

    /// A uniformly random live company.
    pub fn random_live_company(&self, rng: &mut impl Rng) -> Option<u64> {
        self.live_company_ids.random(rng).copied()
    }

    /// A uniformly random archived (restorable) company.
    pub fn random_archived_company(&self, rng: &mut impl Rng) -> Option<u64> {
        self.archived_company_ids.random(rng).copied()
    }

    pub fn live_company_count(&self) -> usize {
        self.live_company_ids.len()
    }

    pub fn archived_company_count(&self) -> usize {
        self.archived_company_ids.len()
    }

    pub fn live_companies(&self) -> impl Iterator<Item = &Company> {
        self.companies.values().filter(|c| c.is_live())
    }

    // --- Salesforce mutations -------------------------------------------------------------

    /// Creates an account; returns its id.
    pub fn salesforce_create(
        &mut self,
        values: BTreeMap<&'static str, SfValue>,
        now_ms: i64,
    ) -> String {
        let at = self.tick(now_ms);
        self.insert_account(values, at)
    }

    /// Sets (`Some`) or clears (`None`) fields of a live account. As in Salesforce, any
    /// update moves `LastModifiedDate`, changed or not. Returns false if the account is not
    /// live.
    pub fn salesforce_update(
        &mut self,
        id: &str,
        changes: &BTreeMap<&'static str, Option<SfValue>>,
        now_ms: i64,
    ) -> bool {
        if self.accounts.get(id).is_none_or(|a| a.deleted) {
            return false;
        }
        let at = self.tick(now_ms);
        let Some(account) = self.accounts.get_mut(id) else {
            return false;
        };
        for (name, value) in changes {
            match value {
                Some(SfValue::Text(s)) if s.is_empty() => {
                    account.values.remove(name);
                }
                Some(v) => {
                    account.values.insert(name, v.clone());
                }
                None => {
                    account.values.remove(name);
                }
            }
        }
        account.modified_ms = at;
        true
    }

    /// Moves a live account to the recycle bin; false if it is not live.
    pub fn salesforce_delete(&mut self, id: &str, now_ms: i64) -> bool {
        if self.accounts.get(id).is_none_or(|a| a.deleted) {
            return false;
        }
        let at = self.tick(now_ms);
        if let Some(account) = self.accounts.get_mut(id) {
            account.deleted = true;
            account.modified_ms = at;
        }
        self.live_account_ids.remove(&id.to_owned());
        true
    }

    /// A uniformly random live account.
    pub fn random_live_account(&self, rng: &mut impl Rng) -> Option<String> {
        self.live_account_ids.random(rng).cloned()
    }

    pub fn live_account_count(&self) -> usize {
        self.live_account_ids.len()
    }

    pub fn live_accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values().filter(|a| !a.deleted)
    }

    /// `GET /_sim/state`: every live record of both CRMs, and the API writes per record.
    pub fn state_json(&self) -> Value {
        json!({
            "hubspot": self.live_companies().map(Company::state_json).collect::<Vec<_>>(),
            "salesforce": self.live_accounts().map(Account::state_json).collect::<Vec<_>>(),
            "api_writes": {
                "hubspot": self.api_writes.hubspot,
                "salesforce": self.api_writes.salesforce,
            },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Dataset records in each vendor's shape

/// One street line: "<house number> <street>", or the street alone.
pub fn street_line(address: &DemoAddress) -> String {
    match &address.house_number {
        Some(number) if !number.trim().is_empty() => {
            format!("{} {}", number.trim(), address.street)
        }
        _ => address.street.clone(),
    }
}

/// The street of a one-line address without its leading house number ("12b Rue X" → "Rue X").
pub fn street_of(line: &str) -> &str {
    match line.split_once(' ') {
        Some((first, rest)) if first.starts_with(|c: char| c.is_ascii_digit()) => rest.trim(),
        _ => line.trim(),
    }
}

/// A dataset-shaped record as HubSpot company properties.
pub fn hubspot_properties(a: &DemoAccount) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            p.insert(name.to_owned(), v);
        }
    };
    put("name", Some(a.name.clone()));
    put("industry", Some(a.industry.clone()));
    put("address", Some(street_line(&a.address)));
    put("city", Some(a.address.city.clone()));
    put("zip", a.address.postal_code.clone());
    put("country", Some(a.address.country_code.clone()));
    put("hubspot_owner_id", Some(a.owner_crm_id.clone()));
    put("terrane_tier", Some(a.tier.clone()));
    put("terrane_annual_value", Some(a.annual_value.to_string()));
    put(
        "terrane_visits_per_year",
        Some(a.visits_per_year.to_string()),
    );
    put("terrane_priority", Some(a.priority.to_string()));
    p
}

/// A dataset-shaped record as Salesforce account fields.
pub fn salesforce_values(a: &DemoAccount) -> BTreeMap<&'static str, SfValue> {
    let mut v = BTreeMap::new();
    let mut text = |name: &'static str, value: Option<String>| {
        if let Some(s) = value.filter(|s| !s.is_empty()) {
            v.insert(name, SfValue::Text(s));
        }
    };
    text("Name", Some(a.name.clone()));
    text("Industry", Some(a.industry.clone()));
    text("BillingStreet", Some(street_line(&a.address)));
    text("BillingPostalCode", a.address.postal_code.clone());
    text("BillingCity", Some(a.address.city.clone()));
    text("BillingCountryCode", Some(a.address.country_code.clone()));
    text("OwnerId", Some(a.owner_crm_id.clone()));
    text("Terrane_Tier__c", Some(a.tier.clone()));
    v.insert(
        "Terrane_Annual_Value__c",
        SfValue::Number(f64::from(a.annual_value)),
    );
    v.insert(
        "Terrane_Visits_Per_Year__c",
        SfValue::Number(f64::from(a.visits_per_year)),
    );
    v.insert(
        "Terrane_Priority__c",
        SfValue::Number(f64::from(a.priority)),
    );
    v
}

const NAME_FIRST: &[&str] = &[
    "Azur", "Riviera", "Rocher", "Corniche", "Soleil", "Port", "Olivier", "Citron", "Palmier",
    "Lavande", "Mistral", "Horizon",
];
const NAME_SECOND: &[&str] = &[
    "Boulangerie",
    "Café",
    "Pharmacie",
    "Garage",
    "Fleurs",
    "Optique",
    "Librairie",
    "Épicerie",
    "Studio",
    "Atelier",
    "Bistro",
    "Marché",
];

/// An invented business, shaped like a dataset account. Its street comes from a random
/// template with a new house number (a made-up address on Avenue de la Simulation, Monaco,
/// when there is none).
pub fn synthetic_record(
    rng: &mut impl Rng,
    templates: &[DemoAccount],
    owners: &[String],
    n: usize,
) -> DemoAccount {
    let first = NAME_FIRST[rng.random_range(0..NAME_FIRST.len())];
    let second = NAME_SECOND[rng.random_range(0..NAME_SECOND.len())];
    let address = match templates.get(rng.random_range(0..templates.len().max(1))) {
        Some(t) => DemoAddress {
            house_number: Some(rng.random_range(1..200u32).to_string()),
            ..t.address.clone()
        },
        None => DemoAddress {
            house_number: Some(rng.random_range(1..200u32).to_string()),
            street: "Avenue de la Simulation".into(),
            postal_code: Some("98000".into()),
            city: "Monaco".into(),
            country_code: "MC".into(),
            from_osm_tags: false,
        },
    };
    let tier = ["A", "B", "C"][rng.random_range(0..3)];
    DemoAccount {
        crm_source: String::new(),
        crm_id: String::new(),
        name: format!("{second} {first} {n:05}"),
        industry: format!("prospect:{}", second.to_lowercase()),
        synthetic: true,
        osm_ref: String::new(),
        address,
        lon: 0.0,
        lat: 0.0,
        tier: tier.into(),
        annual_value: rng.random_range(50..5000u32) * 10,
        visits_per_year: rng.random_range(2..25),
        priority: rng.random_range(1..=5),
        owner_crm_id: owners
            .get(rng.random_range(0..owners.len().max(1)))
            .cloned()
            .unwrap_or_else(|| "owner-1".into()),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn events() -> EventFactory {
        EventFactory::new(4_410_001, 1_000_001)
    }

    /// A store with `n` companies and `n` accounts.
    pub fn store_with(n: usize) -> Store {
        Store::load(
            events(),
            &Seed {
                dataset: None,
                synthetic: 2 * n,
                rng_seed: 7,
            },
            1_795_514_400_000,
        )
        .expect("synthetic records load")
    }

    #[test]
    fn synthetic_records_split_between_the_crms() {
        let store = store_with(5);
        assert_eq!(store.live_companies().count(), 5);
        assert_eq!(store.live_accounts().count(), 5);
        assert!(store.accounts.keys().all(|id| id.len() == 18));
    }

    #[test]
    fn updates_report_only_changed_properties_and_bump_the_clock() {
        let mut store = store_with(1);
        let id = *store.companies.keys().next().expect("a company");
        let before = store.companies[&id].updated_ms;
        let name = store.companies[&id].properties["name"].clone();
        let changes = BTreeMap::from([
            ("name".to_owned(), Some(name)),
            ("terrane_tier".to_owned(), Some("Z".to_owned())),
        ]);
        let changed = store.hubspot_update(id, &changes, 0).expect("live");
        assert_eq!(changed, vec![("terrane_tier".to_owned(), "Z".to_owned())]);
        assert!(store.companies[&id].updated_ms > before);
        let unchanged = store.hubspot_update(id, &changes, 0).expect("live");
        assert!(unchanged.is_empty());
    }

    #[test]
    fn merged_companies_resolve_to_the_primary_and_leave_the_list() {
        let mut store = store_with(2);
        let ids: Vec<u64> = store.companies.keys().copied().collect();
        store
            .companies
            .get_mut(&ids[0])
            .expect("primary")
            .properties
            .remove("zip");
        let moved = store.hubspot_merge(ids[0], ids[1], 0).expect("merge");
        assert_eq!(moved, 1);
        assert_eq!(store.live_companies().count(), 1);
        assert_eq!(store.hubspot_resolve(ids[1]).map(|c| c.id), Some(ids[0]));
        assert_eq!(
            store.companies[&ids[0]].property("hs_merged_object_ids"),
            Some(ids[1].to_string())
        );
    }

    #[test]
    fn pools_track_live_and_archived_records() {
        let mut store = store_with(3);
        let ids: Vec<u64> = store.companies.keys().copied().collect();
        assert_eq!(store.live_company_count(), 3);
        store.hubspot_archive(ids[0], 0);
        store.hubspot_merge(ids[1], ids[2], 0);
        assert_eq!(store.live_company_count(), 1);
        assert_eq!(store.archived_company_count(), 1);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(store.random_live_company(&mut rng), Some(ids[1]));
        assert_eq!(store.random_archived_company(&mut rng), Some(ids[0]));
        store.hubspot_restore(ids[0], 0);
        assert_eq!(store.archived_company_count(), 0);
        let account = store.random_live_account(&mut rng).expect("an account");
        store.salesforce_delete(&account, 0);
        assert_eq!(store.live_account_count(), 2);
        assert_eq!(store.live_account_count(), store.live_accounts().count());
    }

    #[test]
    fn street_lines_drop_the_house_number() {
        assert_eq!(street_of("12b Rue Grimaldi"), "Rue Grimaldi");
        assert_eq!(street_of("Place du Casino"), "Place du Casino");
    }
}
