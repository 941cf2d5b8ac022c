//! Undo: the value to restore is the one Locksmith itself replaced. With
//! `[journal] seal_to = "age1…"` every committed write seals the before-values
//! of the columns it changes to that recipient inside its intent entry
//! (ciphertext only; the private key never lives on the box). `undo ENTRY
//! --identity FILE` opens it and writes the old values back as a backup
//! restore whose backup is that entry, guarded by the entry's after-values.

use base64::Engine as _;
use serde_json::json;

use super::account::{Account, read_columns, resolve};
use super::backup::{BackupIdentity, BackupRow};
use super::plan::Plan;
use super::{OpError, Session};
use crate::backend::Value;
use crate::journal::{EntryKind, Journal, Outcome};

/// The sealed before-image for a plan's intent, when a recipient is set and
/// the plan is one UPDATE (the only writes undo covers).
pub fn seal_before(s: &Session, plan: &Plan) -> Result<Option<serde_json::Value>, OpError> {
    let Some(to) = &s.seal_to else {
        return Ok(None);
    };
    if plan.creates_row || plan.statements.len() != 1 {
        return Ok(None);
    }
    let recipient: age::x25519::Recipient = to.trim().parse().map_err(|e| {
        OpError::Usage(format!("[journal] seal_to is no age recipient: {e}").into())
    })?;
    let columns: Vec<serde_json::Value> = plan
        .changes
        .iter()
        .map(|c| json!({ "column": c.column, "value": encode(&c.before) }))
        .collect();
    let plain = serde_json::to_vec(&columns).unwrap_or_default();
    let sealed = age::encrypt(&recipient, &plain)
        .map_err(|e| OpError::Refused(format!("sealing the before-image failed: {e}").into()))?;
    Ok(Some(json!({
        "to": to.trim(),
        "age": base64::engine::general_purpose::STANDARD.encode(sealed),
    })))
}

fn encode(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => json!({ "t": "null" }),
        Value::Int(i) => json!({ "t": "int", "v": i }),
        Value::UInt(u) => json!({ "t": "uint", "v": u }),
        Value::Float(f) => json!({ "t": "float", "v": f }),
        Value::Text(t) => json!({ "t": "text", "v": t }),
        Value::Bytes(b) => json!({ "t": "bytes", "v": hex::encode(b) }),
        Value::DateTime(d) => {
            json!({ "t": "datetime", "v": d.format("%Y-%m-%d %H:%M:%S%.f").to_string() })
        }
    }
}

fn decode(v: &serde_json::Value) -> Option<Value> {
    let text = || v["v"].as_str().map(str::to_string);
    Some(match v["t"].as_str()? {
        "null" => Value::Null,
        "int" => Value::Int(v["v"].as_i64()?),
        "uint" => Value::UInt(v["v"].as_u64()?),
        "float" => Value::Float(v["v"].as_f64()?),
        "text" => Value::Text(text()?),
        "bytes" => Value::Bytes(hex::decode(text()?).ok()?),
        "datetime" => Value::DateTime(
            chrono::NaiveDateTime::parse_from_str(&text()?, "%Y-%m-%d %H:%M:%S%.f").ok()?,
        ),
        _ => return None,
    })
}

fn refused(msg: String) -> OpError {
    OpError::Refused(msg.into())
}

/// Reads entry `id`, checks it can be undone here, opens its sealed
/// before-image with the identity in `identity_file`, and checks that the row
/// still holds what the entry wrote. Returns the account (`#pk`) and the row
/// of old values to write back.
pub async fn undo_row(
    s: &mut Session,
    j: &mut Journal,
    id: i64,
    identity_file: &std::path::Path,
) -> Result<(String, BackupRow), OpError> {
    let e = j
        .get(id)
        .map_err(|_| OpError::NotFound(format!("the journal has no entry {id}").into()))?;
    let d = &e.entry.details;
    if e.entry.kind == EntryKind::BreakGlass || d["creates_row"].as_bool() == Some(true) {
        return Err(refused(format!(
            "entry {id} is a restore-admin (it may have inserted rows and links): undo covers UPDATE-only plans (reset, unlock, transplant, backup restore); undo it by hand from the plan in `locksmith audit show {id}`"
        )));
    }
    if e.entry.kind != EntryKind::Intent {
        return Err(refused(format!(
            "entry {id} is no write's intent (it is a {:?} entry); give the intent entry of the write to undo",
            e.entry.kind
        )));
    }
    if e.entry.place != s.place() {
        return Err(refused(format!(
            "entry {id} wrote to {}/{}, not to this target; connect to that target to undo it",
            e.entry.place.host, e.entry.place.database
        )));
    }
    let committed = j
        .list(None)
        .map_err(OpError::Journal)?
        .iter()
        .any(|o| o.entry.refers_to == Some(id) && o.entry.outcome == Some(Outcome::Committed));
    if !committed {
        return Err(refused(format!(
            "entry {id} has no committed outcome: nothing of it is on the target to undo"
        )));
    }
    let Some(sealed) = d["sealed_before"]["age"].as_str() else {
        let why = match &s.seal_to {
            None => {
                "no recipient is configured ([journal] seal_to = \"age1…\" in <config>/locksmith/config.toml), so writes keep no sealed before-image; undo is unavailable"
            }
            Some(_) => {
                "it was written before [journal] seal_to was set, so it holds no sealed before-image"
            }
        };
        return Err(refused(format!("entry {id} cannot be undone: {why}")));
    };
    let columns = open(sealed, identity_file, id)?;
    let pk = d["pk"]["value"].as_str().unwrap_or_default().to_string();
    let account = format!("#{pk}");
    let live = resolve(s, &account).await?;
    after_guard(s, j, &live, d, id).await?;
    let row = BackupRow {
        identity: BackupIdentity {
            kind: "undo".into(),
            source: format!("journal entry {id}"),
            sha256: None,
            dumped_at: None,
            entry: Some(id),
        },
        values: columns,
        login: live.login.clone(),
        salt: None,
    };
    Ok((account, row))
}

/// Decrypts the sealed before-values with the first X25519 identity in the file.
fn open(
    sealed: &str,
    identity_file: &std::path::Path,
    id: i64,
) -> Result<Vec<(String, Value)>, OpError> {
    let text = std::fs::read_to_string(identity_file).map_err(|e| {
        OpError::Usage(format!("--identity {}: {e}", identity_file.display()).into())
    })?;
    let identity: age::x25519::Identity = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| {
            OpError::Usage(
                format!(
                    "--identity {}: no age X25519 identity (AGE-SECRET-KEY-…) in the file",
                    identity_file.display()
                )
                .into(),
            )
        })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|_| refused(format!("entry {id}: its sealed before-image is not base64")))?;
    let plain = age::decrypt(&identity, &bytes).map_err(|e| {
        refused(format!(
            "entry {id}: the identity does not open its sealed before-image ({e}); use the key whose recipient is in [journal] seal_to"
        ))
    })?;
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&plain).unwrap_or_default();
    parsed
        .iter()
        .map(|c| Some((c["column"].as_str()?.to_string(), decode(&c["value"])?)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| refused(format!("entry {id}: its sealed before-image is malformed")))
}

/// The row must still hold what the entry wrote (its after-fingerprints).
async fn after_guard(
    s: &mut Session,
    j: &Journal,
    live: &Account,
    d: &serde_json::Value,
    id: i64,
) -> Result<(), OpError> {
    let written: Vec<(String, String)> = super::protocol::journaled_columns(d)
        .into_iter()
        .map(|(column, _, after)| (column, after))
        .collect();
    let names: Vec<String> = written.iter().map(|(c, _)| c.clone()).collect();
    let now = read_columns(s, &live.id, &names)
        .await?
        .ok_or_else(|| refused(format!("the row of entry {id} is gone")))?;
    for ((col, after), value) in written.iter().zip(&now) {
        if j.fingerprint(&format!("column:{col}"), &value.canonical_bytes()) != *after {
            return Err(refused(format!(
                "{} changed since entry {id} (column `{col}` no longer holds the value that entry wrote): undo would overwrite a later change; nothing was written",
                live.label()
            )));
        }
    }
    Ok(())
}
