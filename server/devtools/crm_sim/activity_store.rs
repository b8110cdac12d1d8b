//! The meetings and Tasks written through the APIs (`activities` serves them), kept apart from
//! the company and Account records.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::clock::hubspot_time;

/// The Task field the simulated org has as External ID (an admin creates it in a real org).
pub const TASK_EXTERNAL_ID_FIELD: &str = "Terrane_Visit_Id__c";
const FIRST_MEETING_ID: u64 = 70_000_001;

#[derive(Debug, Clone)]
pub struct Meeting {
    pub id: u64,
    pub properties: BTreeMap<String, String>,
    pub companies: Vec<u64>,
    pub created_ms: i64,
}

impl Meeting {
    pub fn to_json(&self, requested: Option<&[String]>) -> Value {
        let mut props: BTreeMap<String, String> = match requested {
            Some(names) => self
                .properties
                .iter()
                .filter(|(k, _)| names.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            None => self.properties.clone(),
        };
        props.insert("hs_object_id".into(), self.id.to_string());
        props.insert("hs_createdate".into(), hubspot_time(self.created_ms));
        props.insert("hs_lastmodifieddate".into(), hubspot_time(self.created_ms));
        json!({
            "id": self.id.to_string(),
            "properties": props,
            "createdAt": hubspot_time(self.created_ms),
            "updatedAt": hubspot_time(self.created_ms),
            "archived": false,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub external_id: String,
    pub fields: BTreeMap<String, Value>,
    /// Upserts that reached this Task (created or updated).
    pub writes: u64,
}

/// The activities written through the APIs. One mutex guards it; no method awaits.
#[derive(Debug)]
pub struct Activities {
    pub meetings: BTreeMap<u64, Meeting>,
    /// By external id.
    pub tasks: BTreeMap<String, Task>,
    pub next_meeting: u64,
    pub next_task: u64,
}

impl Default for Activities {
    fn default() -> Self {
        Self {
            meetings: BTreeMap::new(),
            tasks: BTreeMap::new(),
            next_meeting: FIRST_MEETING_ID,
            next_task: 1,
        }
    }
}

impl Activities {
    /// For `GET /_sim/state`: `{meetings: [...], tasks: [...]}`.
    pub fn state_json(&self) -> Value {
        json!({
            "meetings": self.meetings.values().map(|m| json!({
                "id": m.id.to_string(),
                "properties": m.properties,
                "companies": m.companies.iter().map(u64::to_string).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "tasks": self.tasks.values().map(|t| {
                let mut v = json!({"Id": t.id, TASK_EXTERNAL_ID_FIELD: t.external_id, "writes": t.writes});
                for (k, f) in &t.fields {
                    v[k] = f.clone();
                }
                v
            }).collect::<Vec<_>>(),
        })
    }
}
