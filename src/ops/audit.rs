//! The journal's use cases for auditors and for break glass: verify (with an
//! off-box checkpoint), checkpoint, close a break-glass entry, and `status`
//! (which open break-glass entries are overdue). Shells only render these.

use serde::Serialize;
use serde_json::json;

use super::OpError;
use crate::journal::{Actor, Entry, EntryKind, Journal, JournalError, NewEntry, VerifyReport};

/// The snake_case name of an entry's kind ("intent", "break_glass", …).
pub fn kind_name(e: &Entry) -> String {
    name_of(serde_json::to_value(e.entry.kind))
}

/// The snake_case name of an entry's outcome, empty when it has none.
pub fn outcome_name(e: &Entry) -> String {
    e.entry
        .outcome
        .as_ref()
        .map(|o| name_of(serde_json::to_value(o)))
        .unwrap_or_default()
}

fn name_of(v: serde_json::Result<serde_json::Value>) -> String {
    v.ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// One entry by id; a missing one is "not found" (exit 4).
pub fn entry(j: &mut Journal, id: i64) -> Result<Entry, OpError> {
    j.get(id).map_err(|e| match e {
        JournalError::NotFound(id) => OpError::NotFound(format!("no journal entry {id}").into()),
        other => OpError::Journal(other),
    })
}

/// `audit verify [--checkpoint COUNT:HASH]`.
#[derive(Debug, Serialize)]
pub struct Verified {
    #[serde(flatten)]
    pub report: VerifyReport,
    /// What the checkpoint found wrong when the chain itself is intact.
    pub checkpoint_problem: Option<String>,
    pub checkpoint_given: bool,
}

impl Verified {
    /// The chain and the checkpoint hold (contradictions aside).
    pub fn chain_ok(&self) -> bool {
        self.report.problem.is_none() && self.checkpoint_problem.is_none()
    }

    /// The chain holds but two entries about one intent disagree: its own finding.
    pub fn contradicted(&self) -> bool {
        self.chain_ok() && !self.report.contradictions.is_empty()
    }

    pub fn ok(&self) -> bool {
        self.chain_ok() && self.report.contradictions.is_empty()
    }
}

pub fn verify(j: &mut Journal, checkpoint: Option<&str>) -> Result<Verified, OpError> {
    let report = j.verify().map_err(OpError::Journal)?;
    let checkpoint_problem = match checkpoint {
        Some(cp) if report.problem.is_none() => check_checkpoint(j, cp, report.entries)?,
        _ => None,
    };
    Ok(Verified {
        report,
        checkpoint_problem,
        checkpoint_given: checkpoint.is_some(),
    })
}

/// A checkpoint `COUNT:HASH` holds when entry COUNT still exists with that hash.
fn check_checkpoint(
    j: &mut Journal,
    checkpoint: &str,
    entries: u64,
) -> Result<Option<String>, OpError> {
    let (count, hash) =
        checkpoint
            .split_once(':')
            .and_then(|(c, h)| Some((c.parse::<u64>().ok()?, h)))
            .ok_or_else(|| {
                OpError::Usage(format!(
                "--checkpoint `{checkpoint}` is not COUNT:HASH as printed by `audit checkpoint`"
            ).into())
            })?;
    if count == 0 {
        return Ok(None);
    }
    if entries < count {
        return Ok(Some(format!(
            "TRUNCATED: the checkpoint saw {count} entries, the journal now has {entries}; entries after {entries} were removed"
        )));
    }
    let id =
        i64::try_from(count).map_err(|_| OpError::Usage("checkpoint count is too large".into()))?;
    match j.get(id) {
        Ok(e) if e.hash == hash => Ok(None),
        Ok(_) => Ok(Some(format!(
            "entry {count} no longer has the checkpoint's hash: the journal was rewritten up to it"
        ))),
        Err(JournalError::NotFound(_)) => Ok(Some(format!(
            "entry {count} named by the checkpoint is gone"
        ))),
        Err(e) => Err(OpError::Journal(e)),
    }
}

/// `audit checkpoint`: COUNT:HASH of an intact chain, or the problem that
/// keeps it from being taken.
pub enum Checkpoint {
    Taken {
        entries: u64,
        head_hash: String,
        token: String,
    },
    Broken(VerifyReport),
}

pub fn checkpoint(j: &mut Journal) -> Result<Checkpoint, OpError> {
    let r = j.verify().map_err(OpError::Journal)?;
    if r.problem.is_some() {
        return Ok(Checkpoint::Broken(r));
    }
    let head_hash = r.head_hash.clone().unwrap_or_default();
    Ok(Checkpoint::Taken {
        entries: r.entries,
        token: format!("{}:{head_hash}", r.entries),
        head_hash,
    })
}

/// `audit close ID --reason`: a `close` entry referring to a break-glass entry.
pub fn close_break_glass(j: &mut Journal, id: i64, reason: &str) -> Result<i64, OpError> {
    if reason.trim().is_empty() {
        return Err(OpError::Usage(
            "--reason must say how the emergency was closed".into(),
        ));
    }
    let e = entry(j, id)?;
    if e.entry.kind != EntryKind::BreakGlass {
        return Err(OpError::Usage(format!(
            "journal entry {id} is not a break-glass entry (restore-admin); `locksmith status` lists the open ones"
        ).into()));
    }
    if let Some(closed) = j.closed_by(id).map_err(OpError::Journal)? {
        return Err(OpError::Refused(
            format!("break-glass entry {id} was already closed by entry {closed}").into(),
        ));
    }
    let new = NewEntry {
        kind: EntryKind::Close,
        refers_to: Some(id),
        action: "close".into(),
        account: e.entry.account.clone(),
        reason: Some(reason.trim().to_string()),
        outcome: None,
        actor: Actor::current(),
        place: e.entry.place.clone(),
        details: json!({ "closes": id, "opened_at": e.at }),
    };
    j.append(&new).map_err(OpError::Journal)
}

/// One break-glass entry still open.
#[derive(Debug, Serialize)]
pub struct OpenBreakGlass {
    #[serde(rename = "entry")]
    pub id: i64,
    pub at: String,
    pub account: Option<String>,
    pub place: crate::journal::Place,
    pub reason: Option<String>,
    pub open_seconds: i64,
    pub overdue: bool,
}

/// `status`: the open break-glass entries and how many are overdue.
#[derive(Debug, Serialize)]
pub struct Status {
    pub open: Vec<OpenBreakGlass>,
    pub overdue: usize,
    pub max_open_hours: u64,
}

/// Entries open longer than `max_open_hours` at `now` are overdue; with 0,
/// every open entry is.
pub fn status(
    j: &mut Journal,
    max_open_hours: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Status, OpError> {
    let limit = i64::try_from(max_open_hours)
        .ok()
        .and_then(|h| h.checked_mul(3600))
        .ok_or_else(|| OpError::Usage("--max-open-hours is too large".into()))?;
    let open: Vec<OpenBreakGlass> = j
        .open_break_glass()
        .map_err(OpError::Journal)?
        .into_iter()
        .map(|e| {
            let age = chrono::DateTime::parse_from_rfc3339(&e.at)
                .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds())
                .unwrap_or(i64::MAX);
            OpenBreakGlass {
                id: e.id,
                at: e.at.clone(),
                account: e.entry.account.clone(),
                place: e.entry.place.clone(),
                reason: e.entry.reason.clone(),
                open_seconds: age,
                overdue: age > limit || (limit == 0 && age >= 0),
            }
        })
        .collect();
    Ok(Status {
        overdue: open.iter().filter(|o| o.overdue).count(),
        open,
        max_open_hours,
    })
}

/// `audit export --format jsonl|ecs|ocsf`: one JSON object a line, oldest
/// first (jsonl: the journal's own entries; ecs/ocsf: SIEM documents, see
/// `forward::formats`). Returns the number of lines.
pub fn export(j: &mut Journal, format: &str, out: &mut dyn std::io::Write) -> Result<u64, OpError> {
    let doc: fn(&Entry) -> serde_json::Value = match format {
        "jsonl" => return j.export_jsonl(out).map_err(OpError::Journal),
        "ecs" => crate::forward::formats::ecs,
        "ocsf" => crate::forward::formats::ocsf,
        other => {
            return Err(OpError::Usage(crate::i18n::Said::key(
                "said.export_format",
                &[("format", &other)],
            )));
        }
    };
    let failed = |e: std::io::Error| {
        OpError::Journal(JournalError::Export(format!(
            "writing the export failed ({e}); check the destination"
        )))
    };
    let entries = j.list(None).map_err(OpError::Journal)?;
    for e in &entries {
        let line = doc(e).to_string();
        out.write_all(line.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .map_err(failed)?;
    }
    out.flush().map_err(failed)?;
    Ok(entries.len() as u64)
}

/// Where the forward destination stands (`status`): nothing is sent.
pub fn forward_pending(
    j: &mut Journal,
    setting: crate::forward::ForwardSetting,
    sharing: crate::journal::Sharing,
) -> crate::forward::Flushed {
    crate::forward::Forwarder::new(setting, j.path(), sharing).pending(j)
}

/// `audit forward`: sends every entry the destination does not have yet,
/// in order, and says how far it got.
pub fn forward(
    j: &mut Journal,
    setting: crate::forward::ForwardSetting,
    sharing: crate::journal::Sharing,
) -> crate::forward::Flushed {
    crate::forward::Forwarder::new(setting, j.path(), sharing).flush(j)
}
