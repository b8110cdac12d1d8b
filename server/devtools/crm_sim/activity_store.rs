//! The meetings, HubSpot tasks and Salesforce Tasks written through the APIs (`activities`
//! and `hubspot_tasks` serve them), kept apart from the company and Account records.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::clock::{hubspot_time, salesforce_time};
use crate::ids;

/// The Task field the simulated org has as External ID (an admin creates it in a real org).
pub const TASK_EXTERNAL_ID_FIELD: &str = "Terrane_Visit_Id__c";
const FIRST_MEETING_ID: u64 = 70_000_001;
const FIRST_HUBSPOT_TASK_ID: u64 = 80_000_001;

/// A HubSpot engagement: a meeting, or a task (same shape: properties and companies).
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
    /// `Terrane_Visit_Id__c` (none for a Task a CRM user made).
    pub external_id: Option<String>,
    pub fields: BTreeMap<String, Value>,
    /// Upserts that reached this Task (created or updated).
    pub writes: u64,
    pub modified_ms: i64,
}

/// The activities written through the APIs or by simulated CRM users. One mutex guards it; no
/// method awaits.
#[derive(Debug)]
pub struct Activities {
    pub meetings: BTreeMap<u64, Meeting>,
    /// HubSpot tasks, by id.
    pub hubspot_tasks: BTreeMap<u64, Meeting>,
    /// By Task Id.
    pub tasks: BTreeMap<String, Task>,
    next_meeting: u64,
    next_hubspot_task: u64,
    next_task: u64,
}

impl Default for Activities {
    fn default() -> Self {
        Self {
            meetings: BTreeMap::new(),
            hubspot_tasks: BTreeMap::new(),
            tasks: BTreeMap::new(),
            next_meeting: FIRST_MEETING_ID,
            next_hubspot_task: FIRST_HUBSPOT_TASK_ID,
            next_task: 1,
        }
    }
}

impl Activities {
    /// Stores a new meeting; its id.
    pub fn add_meeting(
        &mut self,
        properties: BTreeMap<String, String>,
        companies: Vec<u64>,
        now_ms: i64,
    ) -> u64 {
        let id = self.next_meeting;
        self.next_meeting += 1;
        insert(&mut self.meetings, id, properties, companies, now_ms)
    }

    /// Stores a new HubSpot task; its id.
    pub fn add_hubspot_task(
        &mut self,
        properties: BTreeMap<String, String>,
        companies: Vec<u64>,
        now_ms: i64,
    ) -> u64 {
        let id = self.next_hubspot_task;
        self.next_hubspot_task += 1;
        insert(&mut self.hubspot_tasks, id, properties, companies, now_ms)
    }

    /// Creates the Task of `external_id` (or a new one without), or updates it with `fields`;
    /// (Task Id, created).
    pub fn upsert_task(
        &mut self,
        external_id: Option<&str>,
        fields: BTreeMap<String, Value>,
        now_ms: i64,
    ) -> (String, bool) {
        let existing = external_id.and_then(|ext| {
            self.tasks
                .values()
                .find(|t| t.external_id.as_deref() == Some(ext))
                .map(|t| t.id.clone())
        });
        let (id, created) = if let Some(id) = existing {
            (id, false)
        } else {
            let id = ids::salesforce_id("00T", "Sm0000", self.next_task);
            self.next_task += 1;
            self.tasks.insert(
                id.clone(),
                Task {
                    id: id.clone(),
                    external_id: external_id.map(str::to_owned),
                    fields: BTreeMap::new(),
                    writes: 0,
                    modified_ms: now_ms,
                },
            );
            (id, true)
        };
        if let Some(task) = self.tasks.get_mut(&id) {
            task.fields.extend(fields);
            task.writes += 1;
            task.modified_ms = now_ms;
            // Salesforce stamps a Task's completion when its status becomes Completed.
            let completed = task.fields.get("Status").and_then(Value::as_str) == Some("Completed");
            if completed && !task.fields.contains_key("CompletedDateTime") {
                task.fields
                    .insert("CompletedDateTime".into(), json!(salesforce_time(now_ms)));
            }
        }
        (id, created)
    }

    /// For `GET /_sim/state`: `{meetings: [...], hubspot_tasks: [...], tasks: [...]}`.
    pub fn state_json(&self) -> Value {
        let engagements = |all: &BTreeMap<u64, Meeting>| {
            all.values()
                .map(|m| {
                    json!({
                        "id": m.id.to_string(),
                        "properties": m.properties,
                        "companies": m.companies.iter().map(u64::to_string).collect::<Vec<_>>(),
                    })
                })
                .collect::<Vec<_>>()
        };
        json!({
            "meetings": engagements(&self.meetings),
            "hubspot_tasks": engagements(&self.hubspot_tasks),
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

fn insert(
    into: &mut BTreeMap<u64, Meeting>,
    id: u64,
    properties: BTreeMap<String, String>,
    companies: Vec<u64>,
    now_ms: i64,
) -> u64 {
    into.insert(
        id,
        Meeting {
            id,
            properties,
            companies,
            created_ms: now_ms,
        },
    );
    id
}
