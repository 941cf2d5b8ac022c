//! `audit …` and `status`: the journal's use cases (`ops::audit`), rendered.

use std::path::Path;

use serde_json::json;

use super::commands::{open_journal, session};
use super::render::pad_wide;
use super::{AuditCommand, Cli, Report};
use crate::i18n::{Lang, Said, tf};
use crate::journal::Journal;
use crate::ops::audit::{self, Checkpoint};
use crate::ops::connect;
use crate::ops::{OpError, metrics, protocol};

pub async fn run(cli: &Cli, command: &AuditCommand) -> Result<Report, OpError> {
    let mut j = open_journal(cli)?;
    match command {
        AuditCommand::List { limit } => list(&mut j, *limit),
        AuditCommand::Show { id } => {
            let e = audit::entry(&mut j, *id)?;
            let json = serde_json::to_value(&e).unwrap_or_default();
            let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
            Ok(Report::ok(text, json))
        }
        AuditCommand::Verify { checkpoint } => verify(&mut j, checkpoint.as_deref()),
        AuditCommand::Checkpoint => Ok(checkpoint(audit::checkpoint(&mut j)?)),
        AuditCommand::Close { id, reason } => {
            let closed = audit::close_break_glass(&mut j, *id, reason)?;
            Ok(Report::ok(
                format!("break-glass entry {id} closed by entry {closed}\n"),
                json!({ "closed": id, "journal_entry": closed }),
            ))
        }
        AuditCommand::Reconcile => reconcile(cli, &mut j).await,
        AuditCommand::Export { format } => export(cli, &mut j, format),
        AuditCommand::Forward => forward(cli, &mut j),
    }
}

fn list(j: &mut Journal, limit: Option<u64>) -> Result<Report, OpError> {
    let entries = j.list(limit).map_err(OpError::Journal)?;
    let mut text = String::new();
    for e in &entries {
        text.push_str(&format!(
            "{:>5} {} {} {} {} {}\n",
            e.id,
            e.at,
            pad_wide(&audit::kind_name(e), 11),
            pad_wide(&e.entry.action, 13),
            pad_wide(&e.entry.account.clone().unwrap_or_default(), 24),
            audit::outcome_name(e),
        ));
    }
    Ok(Report::ok(text, json!({ "entries": entries })))
}

fn verify(j: &mut Journal, checkpoint: Option<&str>) -> Result<Report, OpError> {
    let v = audit::verify(j, checkpoint)?;
    let r = &v.report;
    let problem = r
        .problem
        .as_ref()
        .map(|p| format!("CHAIN BROKEN at entry {}: {}", p.entry_id, p.message))
        .or_else(|| v.checkpoint_problem.clone())
        .or_else(|| {
            let lines: Vec<String> = r
                .contradictions
                .iter()
                .map(|c| format!("CONTRADICTING OUTCOMES: {}", c.message))
                .collect();
            Some(lines.join("\n")).filter(|_| v.contradicted())
        });
    let text = match &problem {
        None => format!(
            "journal {}: {} entries, chain intact, head {}{}\n",
            j.path().display(),
            r.entries,
            r.head_hash.clone().unwrap_or_else(|| "(empty)".into()),
            if v.checkpoint_given {
                ", checkpoint matches"
            } else {
                ""
            }
        ),
        Some(p) => format!("journal {}: {p}\n", j.path().display()),
    };
    let mut json = serde_json::to_value(r).unwrap_or_default();
    json["ok"] = json!(v.ok());
    json["checkpoint_problem"] = json!(v.checkpoint_problem);
    let code = match (v.ok(), v.contradicted()) {
        (true, _) => 0,
        (false, true) => super::EXIT_CONTRADICTION,
        (false, false) => super::EXIT_CHECK_FAILED,
    };
    Ok(Report { text, json, code })
}

fn checkpoint(c: Checkpoint) -> Report {
    match c {
        Checkpoint::Broken(r) => {
            let p = r.problem.as_ref();
            Report::checked(
                format!(
                    "refusing to checkpoint a broken chain: entry {}: {}\n",
                    p.map_or(0, |p| p.entry_id),
                    p.map_or("", |p| p.message.as_str())
                ),
                serde_json::to_value(&r).unwrap_or_default(),
                false,
            )
        }
        Checkpoint::Taken {
            entries,
            head_hash,
            token,
        } => Report::ok(
            format!(
                "{token}\nKeep this line off this machine; `locksmith audit verify --checkpoint {token}` later proves no entry up to it was removed.\n"
            ),
            json!({ "entries": entries, "head_hash": head_hash, "checkpoint": token }),
        ),
    }
}

/// Settles this target's open intents by reading their rows.
async fn reconcile(cli: &Cli, j: &mut Journal) -> Result<Report, OpError> {
    let mut s = session(cli).await?;
    let found = protocol::reconcile(&mut s, j).await;
    s.close().await?;
    let found = found?;
    let mut text = String::new();
    for r in &found {
        text.push_str(&format!("{}\n", r.note()));
    }
    if found.is_empty() {
        text.push_str("no open intents for this target\n");
    }
    Ok(Report::ok(text, json!({ "reconciled": found })))
}

fn export(cli: &Cli, j: &mut Journal, format: &str) -> Result<Report, OpError> {
    let mut buf = Vec::new();
    let n = audit::export(j, format, &mut buf)?;
    Ok(Report {
        text: String::from_utf8_lossy(&buf).into_owned(),
        // JSONL is already machine-readable: --json prints it unchanged.
        json: json!({ "exported": n }),
        code: if cli.json { -1 } else { 0 },
    })
}

/// `audit forward`: what waits goes out now; exit 8 while some still waits.
fn forward(cli: &Cli, j: &mut Journal) -> Result<Report, OpError> {
    let setting = connect::forward_setting(cli.forward.as_deref(), cli.config.as_deref())?
        .ok_or_else(|| OpError::Usage(Said::key("said.forward.none", &[])))?;
    let sharing = connect::journal_location(cli.journal.as_deref())?.sharing;
    let f = audit::forward(j, setting, sharing);
    let lang = Lang::detect(cli.lang.as_deref());
    let (sent, through, newest, waiting) = (
        f.sent.to_string(),
        f.through.to_string(),
        f.newest.to_string(),
        f.waiting().to_string(),
    );
    let args = [
        ("destination", f.destination.as_str()),
        ("sent", sent.as_str()),
        ("through", through.as_str()),
        ("newest", newest.as_str()),
        ("waiting", waiting.as_str()),
        ("why", f.error.as_deref().unwrap_or("")),
    ];
    let mut text = tf(lang, "cli.forward.sent", &args) + "\n";
    if f.waiting() > 0 {
        text += &(tf(lang, "cli.forward.waiting", &args) + "\n");
    }
    let json = serde_json::to_value(&f).unwrap_or_default();
    Ok(Report::checked(text, json, f.waiting() == 0))
}

/// `status`: open break-glass entries and whether one is overdue.
pub fn status(cli: &Cli, max_open_hours: u64, prom_file: Option<&Path>) -> Result<Report, OpError> {
    let mut j = open_journal(cli)?;
    let now = chrono::Utc::now();
    let st = audit::status(&mut j, max_open_hours, now)?;
    if let Some(path) = prom_file {
        write_status_metrics(&mut j, &st, now, path)?;
    }
    let mut text = String::new();
    for o in &st.open {
        let advice = match o.overdue {
            true => format!(
                "; close it with `locksmith audit close {} --reason …`",
                o.id
            ),
            false => String::new(),
        };
        text.push_str(&format!(
            "{} break-glass entry {} at {} — {} on {}/{} — open {}h{:02}m{advice}\n",
            if o.overdue { "OVERDUE" } else { "open   " },
            o.id,
            o.at,
            o.account.clone().unwrap_or_default(),
            o.place.host,
            o.place.database,
            o.open_seconds / 3600,
            (o.open_seconds % 3600) / 60,
        ));
    }
    if st.open.is_empty() {
        text.push_str("no open break-glass entries\n");
    } else {
        text.push_str(&format!(
            "{} open break-glass entr{}, {} overdue (limit {} h)\n",
            st.open.len(),
            if st.open.len() == 1 { "y" } else { "ies" },
            st.overdue,
            max_open_hours
        ));
    }
    let mut json = serde_json::to_value(&st).unwrap_or_default();
    // With forwarding configured: how far the destination has the journal (`audit forward` sends).
    if let Some(setting) = connect::forward_setting(cli.forward.as_deref(), cli.config.as_deref())?
    {
        let sharing = connect::journal_location(cli.journal.as_deref())?.sharing;
        let p = audit::forward_pending(&mut j, setting, sharing);
        let (waiting, through) = (p.waiting().to_string(), p.through.to_string());
        let args = [
            ("destination", p.destination.as_str()),
            ("waiting", waiting.as_str()),
            ("through", through.as_str()),
        ];
        text.push_str(
            &(tf(
                Lang::detect(cli.lang.as_deref()),
                "cli.forward.status",
                &args,
            ) + "\n"),
        );
        if let Some(doc) = json.as_object_mut() {
            doc.insert(
                "forward".into(),
                serde_json::to_value(&p).unwrap_or_default(),
            );
        }
    }
    Ok(Report::checked(text, json, st.overdue == 0))
}

/// Every place the journal knows: its open break-glass entries and its last
/// successful drill, as metrics.
fn write_status_metrics(
    j: &mut Journal,
    st: &audit::Status,
    now: chrono::DateTime<chrono::Utc>,
    path: &Path,
) -> Result<(), OpError> {
    let mut samples = Vec::new();
    for (place, ps) in metrics::place_statuses(j, st, None, now)? {
        let labels = metrics::Labels {
            target: metrics::place_label(&place),
            connector: place.connector.clone(),
            ..metrics::Labels::default()
        };
        samples.extend(metrics::status_samples(&labels, Some(&ps), false));
    }
    samples.push(metrics::status_run_sample(now.timestamp()));
    metrics::write_atomic(path, &metrics::render(&samples))
}
