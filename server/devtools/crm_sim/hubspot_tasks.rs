//! HubSpot tasks (`/crm/v3/objects/tasks`): create with a company association (type 192) and
//! search (the filters of meeting search, `CONTAINS_TOKEN` included), in HubSpot's wire format
//! and validation answers; stored beside the meetings in `activity_store`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use crate::activities::{Engagement, create, search, text};
use crate::state::{SimState, lock};

/// HubSpot's task → company association type.
const TASK_TO_COMPANY: u64 = 192;

/// Task properties a client may set.
const TASK_PROPERTIES: &[&str] = &[
    "hs_timestamp",
    "hs_task_subject",
    "hs_task_body",
    "hs_task_status",
    "hs_task_priority",
    "hs_task_type",
    "hs_task_reminders",
    "hubspot_owner_id",
];
const TASK_STATUSES: &[&str] = &["NOT_STARTED", "COMPLETED"];
const TASK_TYPES: &[&str] = &["EMAIL", "CALL", "TODO"];
const TASK_PRIORITIES: &[&str] = &["LOW", "MEDIUM", "HIGH"];

/// The task's properties as text, or HubSpot's validation message.
fn task_properties(raw: &BTreeMap<String, Value>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        if !TASK_PROPERTIES.contains(&name.as_str()) {
            return Err(format!(
                "Property values were not valid: [{{\"isValid\":false,\"message\":\"Property \\\"{name}\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"{name}\"}}]"
            ));
        }
        if let Some(t) = text(value) {
            out.insert(name.clone(), t);
        }
    }
    let Some(due) = out.get("hs_timestamp") else {
        return Err("Property values were not valid: hs_timestamp is required".into());
    };
    if due.parse::<i64>().is_err() && chrono::DateTime::parse_from_rfc3339(due).is_err() {
        return Err(format!(
            "Property values were not valid: hs_timestamp must be a datetime, got {due:?}"
        ));
    }
    for (name, options) in [
        ("hs_task_status", TASK_STATUSES),
        ("hs_task_type", TASK_TYPES),
        ("hs_task_priority", TASK_PRIORITIES),
    ] {
        if let Some(v) = out.get(name)
            && !options.contains(&v.as_str())
        {
            return Err(format!(
                "Property values were not valid: {v:?} is not a valid option for {name}"
            ));
        }
    }
    if let Some(owner) = out.get("hubspot_owner_id")
        && owner.parse::<u64>().is_err()
    {
        return Err(format!(
            "Property values were not valid: {owner:?} is not a valid owner id"
        ));
    }
    Ok(out)
}

/// `POST /crm/v3/objects/tasks`: 201 with the task; 400 for unknown properties or options, a
/// missing `hs_timestamp`, or an association to no live company.
pub async fn create_task(State(sim): State<SimState>, body: Bytes) -> Response {
    let kind = Engagement {
        what: "task",
        to_company: TASK_TO_COMPANY,
        properties: task_properties,
        store: |a, properties, companies, now| {
            let id = a.add_hubspot_task(properties, companies, now);
            a.hubspot_tasks.get(&id).map(|t| t.to_json(None))
        },
    };
    create(&sim, &body, &kind)
}

/// `POST /crm/v3/objects/tasks/search`: as meeting search, over the tasks.
pub async fn search_tasks(State(sim): State<SimState>, body: Bytes) -> Response {
    let activities = lock(&sim.activities);
    search(&body, activities.hubspot_tasks.values())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn task_properties_need_a_due_time_and_known_names_and_options() {
        let ok = BTreeMap::from([
            ("hs_timestamp".to_owned(), json!("2026-12-08T09:30:00.000Z")),
            ("hs_task_status".to_owned(), json!("NOT_STARTED")),
            ("hs_task_type".to_owned(), json!("TODO")),
            ("hubspot_owner_id".to_owned(), json!("31415926")),
        ]);
        assert!(task_properties(&ok).is_ok());
        for (name, bad) in [
            ("terrane_alert", "x"),
            ("hs_task_status", "OPEN"),
            ("hs_task_type", "VISIT"),
            ("hubspot_owner_id", "owner-1"),
            ("hs_timestamp", "today"),
        ] {
            let mut p = ok.clone();
            p.insert(name.into(), json!(bad));
            assert!(task_properties(&p).is_err(), "{name}={bad}");
        }
        assert!(task_properties(&BTreeMap::new()).is_err_and(|m| m.contains("hs_timestamp")));
    }
}
