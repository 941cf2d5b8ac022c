//! Journal entries as SIEM documents, one JSON object a line (`audit export
//! --format ecs|ocsf`): the Elastic Common Schema (IAM events) and OCSF
//! Account Change (class 3001). Same fields as the syslog copy — ids,
//! labels, outcome, actor, chain hash — never the sealed details.

use serde_json::{Value, json};

use super::syslog::target_of;
use crate::journal::{Entry, EntryKind, Outcome};

/// `success`, `failure` or `unknown` (ECS `event.outcome`); an intent has
/// no outcome yet.
fn ecs_outcome(entry: &Entry) -> &'static str {
    match &entry.entry.outcome {
        Some(Outcome::Committed) => "success",
        Some(Outcome::RolledBack | Outcome::Refused | Outcome::Failed) => "failure",
        Some(Outcome::Unknown) | None => "unknown",
    }
}

fn kind_name(entry: &Entry) -> String {
    serde_json::to_value(entry.entry.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// An entry that changes an account (or records that change).
fn changes_account(entry: &Entry) -> bool {
    matches!(
        entry.entry.kind,
        EntryKind::Intent
            | EntryKind::Outcome
            | EntryKind::BreakGlass
            | EntryKind::Drill
            | EntryKind::Reconcile
    )
}

/// What travels with every format: Locksmith's own fields.
fn locksmith_fields(entry: &Entry) -> Value {
    let p = &entry.entry.place;
    json!({
        "entry_id": entry.id,
        "kind": kind_name(entry),
        "refers_to": entry.entry.refers_to,
        "hash": entry.hash,
        "prev_hash": entry.prev_hash,
        "target": target_of(entry),
        "engine": p.engine,
        "database": p.database,
        "connector": p.connector,
        "via": p.via,
    })
}

/// One entry as an ECS document.
pub fn ecs(entry: &Entry) -> Value {
    let e = &entry.entry;
    let a = &e.actor;
    let mut related: Vec<&str> = vec![a.who()];
    if let Some(acc) = &e.account {
        related.push(acc);
    }
    if let Some(l) = &a.login
        && !related.contains(&l.as_str())
    {
        related.push(l);
    }
    let kind = if changes_account(entry) {
        "change"
    } else {
        "info"
    };
    json!({
        "@timestamp": entry.at,
        "ecs": { "version": "8.11.0" },
        "event": {
            "kind": "event",
            "category": ["iam"],
            "type": ["user", kind],
            "action": e.action,
            "outcome": ecs_outcome(entry),
            "id": format!("{}:{}", entry.id, entry.hash),
            "provider": "locksmith",
            "dataset": "locksmith.journal",
            "reason": e.reason,
        },
        "user": {
            "name": a.who(),
            "id": a.sudo_uid.or(a.uid).map(|u| u.to_string()),
            "effective": { "name": a.login.clone().unwrap_or_else(|| a.os_user.clone()),
                           "id": a.uid.map(|u| u.to_string()) },
            "target": { "name": e.account },
        },
        "source": { "address": a.ssh_origin },
        "related": { "user": related },
        "labels": { "locksmith_entry_id": entry.id.to_string() },
        "locksmith": locksmith_fields(entry),
    })
}

/// OCSF Account Change activity: 4 Password Reset, 2 Enable (unlock
/// writes the connector's enable/unlock values), 99 Other.
fn ocsf_activity(action: &str) -> (u32, &'static str) {
    match action {
        "reset" | "restore-admin" => (4, "Password Reset"),
        "unlock" => (2, "Enable"),
        _ => (99, "Other"),
    }
}

/// One entry as an OCSF Account Change (3001) event.
pub fn ocsf(entry: &Entry) -> Value {
    let e = &entry.entry;
    let a = &e.actor;
    let (activity_id, activity_name) = ocsf_activity(&e.action);
    let (status_id, status) = match ecs_outcome(entry) {
        "success" => (1, "Success"),
        "failure" => (2, "Failure"),
        _ => (0, "Unknown"),
    };
    let time = chrono::DateTime::parse_from_rfc3339(&entry.at)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0);
    json!({
        "class_uid": 3001,
        "class_name": "Account Change",
        "category_uid": 3,
        "category_name": "Identity & Access Management",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": 3001 * 100 + activity_id,
        "severity_id": if status_id == 2 { 3 } else { 1 },
        "status_id": status_id,
        "status": status,
        "time": time,
        "message": format!("{} #{} {} {}", kind_name(entry), entry.id, e.action,
                           e.account.clone().unwrap_or_default()),
        "metadata": {
            "version": "1.1.0",
            "uid": format!("{}:{}", entry.id, entry.hash),
            "product": { "name": "Locksmith", "vendor_name": "Locksmith",
                         "version": env!("CARGO_PKG_VERSION") },
            "log_name": "journal",
        },
        "user": { "name": e.account },
        "actor": {
            "user": { "name": a.who(), "uid": a.sudo_uid.or(a.uid).map(|u| u.to_string()) },
            "invoked_by": a.sudo_user.as_ref().map(|_| a.login.clone().unwrap_or_else(|| a.os_user.clone())),
        },
        "src_endpoint": { "ip": a.ssh_origin.as_ref().map(|o| o.rsplit_once(':').map_or(o.as_str(), |(ip, _)| ip).trim_matches(['[', ']']).to_owned()) },
        "unmapped": { "locksmith": locksmith_fields(entry), "reason": e.reason },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Actor, NewEntry, Place};

    fn entry(kind: EntryKind, action: &str, outcome: Option<Outcome>) -> Entry {
        Entry {
            id: 3,
            at: "2026-12-01T10:00:00.123Z".into(),
            entry: NewEntry {
                kind,
                refers_to: None,
                action: action.into(),
                account: Some("admin".into()),
                reason: Some("INC-1".into()),
                outcome,
                actor: Actor {
                    os_user: "root".into(),
                    ssh_origin: Some("10.0.0.9:50022".into()),
                    login: Some("root".into()),
                    uid: Some(0),
                    sudo_user: Some("zhang".into()),
                    sudo_uid: Some(1000),
                },
                place: Place {
                    engine: "mysql".into(),
                    host: "db:3306".into(),
                    database: "crm".into(),
                    connector: "ruoyi".into(),
                    via: None,
                },
                details: json!({"columns": [{"after": "hmac-sha256:ff"}]}),
            },
            prev_hash: "00".repeat(32),
            hash: "cd".repeat(32),
        }
    }

    #[test]
    fn ecs_names_the_operator_the_target_and_the_outcome() {
        let d = ecs(&entry(
            EntryKind::Outcome,
            "reset",
            Some(Outcome::Committed),
        ));
        assert_eq!(d["event"]["category"], json!(["iam"]));
        assert_eq!(d["event"]["type"], json!(["user", "change"]));
        assert_eq!(d["event"]["outcome"], "success");
        assert_eq!(d["user"]["name"], "zhang");
        assert_eq!(d["user"]["effective"]["name"], "root");
        assert_eq!(d["user"]["target"]["name"], "admin");
        assert_eq!(d["locksmith"]["hash"], "cd".repeat(32));
        assert!(!d.to_string().contains("hmac-sha256"));
        let failed = ecs(&entry(EntryKind::Outcome, "reset", Some(Outcome::Refused)));
        assert_eq!(failed["event"]["outcome"], "failure");
    }

    #[test]
    fn ocsf_is_an_account_change_with_its_activity() {
        let d = ocsf(&entry(
            EntryKind::Outcome,
            "reset",
            Some(Outcome::Committed),
        ));
        assert_eq!(
            (d["class_uid"].as_u64(), d["activity_id"].as_u64()),
            (Some(3001), Some(4))
        );
        assert_eq!(d["type_uid"], 300104);
        assert_eq!(d["status_id"], 1);
        assert_eq!(d["time"], 1_796_119_200_123_i64);
        assert_eq!(d["actor"]["user"]["name"], "zhang");
        assert_eq!(d["src_endpoint"]["ip"], "10.0.0.9");
        let u = ocsf(&entry(EntryKind::Intent, "unlock", None));
        assert_eq!(
            (u["activity_id"].as_u64(), u["status_id"].as_u64()),
            (Some(2), Some(0))
        );
    }
}
