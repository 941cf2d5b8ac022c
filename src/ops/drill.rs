//! `drill`: rehearse the emergency recovery on the live target and leave no
//! trace in it. Locate the emergency admin, plan its restore, apply the plan
//! through the write path inside a transaction, verify it, ROLL BACK — timing
//! each step — then report the posture checks and the journal chain status.

use std::time::Instant;

use serde::Serialize;

use super::emergency::{self, Problem};
use super::plan::PlanView;
use super::posture::{self, Posture};
use super::protocol::{Mode, StepTime, apply_with};
use super::{OpError, Session};
use crate::journal::{Journal, VerifyReport};
use crate::secret::Password;

#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub started_at: String,
    pub target: String,
    pub connector: String,
    pub account: String,
    /// What the drill found wrong with the emergency admin (the plan fixes it).
    pub admin_problems: Vec<Problem>,
    /// The drill ran on a restored copy named by --on-copy.
    pub on_copy: bool,
    /// The change was rolled back (false only on a non-transactional copy).
    pub rolled_back: bool,
    pub steps: Vec<StepTime>,
    /// Connect to verified: how long a real recovery takes (its COMMIT aside).
    pub time_to_recover_ms: f64,
    pub total_ms: f64,
    pub journal_intent: i64,
    pub journal_outcome: i64,
    pub plan: PlanView,
    pub posture: Posture,
    pub chain: VerifyReport,
}

/// Times one step and reports it as it ends ("long runs show progress").
pub struct Timer<'a> {
    pub steps: Vec<StepTime>,
    last: Instant,
    progress: &'a mut dyn FnMut(&StepTime),
}

impl<'a> Timer<'a> {
    pub fn new(progress: &'a mut dyn FnMut(&StepTime)) -> Timer<'a> {
        Timer {
            steps: Vec::new(),
            last: Instant::now(),
            progress,
        }
    }

    pub fn lap(&mut self, step: &str) {
        let now = Instant::now();
        let t = StepTime {
            step: step.to_string(),
            millis: now.duration_since(self.last).as_secs_f64() * 1000.0,
            said: None,
        };
        (self.progress)(&t);
        self.steps.push(t);
        self.last = now;
    }

    fn add(&mut self, steps: Vec<StepTime>) {
        for t in steps {
            (self.progress)(&t);
            self.steps.push(t);
        }
        self.last = Instant::now();
    }
}

/// Runs the drill on a connected session (the caller timed "connect").
pub async fn run(
    s: &mut Session,
    j: &mut Journal,
    account: Option<&str>,
    on_copy: bool,
    timer: &mut Timer<'_>,
    dormant_days: i64,
) -> Result<DrillReport, OpError> {
    // A drill writes and rolls back, and journals the rehearsal: not in a read-only session.
    s.refuse_if_read_only("a drill")?;
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let diag = emergency::locate(s, account).await?;
    timer.lap("locate the emergency admin");
    // A password nobody will ever see: the change is rolled back.
    let password = Password::generate(20).map_err(|e| OpError::Refused(e.to_string().into()))?;
    let password = s.connector.keeps_password().then_some(password);
    let plan = emergency::plan_restore_with(s, &diag, password, false).await?;
    timer.lap("plan the restore");
    if !plan.transactional && !on_copy {
        return Err(OpError::Refused(format!(
            "{} uses a non-transactional engine (MyISAM?): a drill there cannot be rolled back. Restore a copy of the database and pass --on-copy URL; nothing was written",
            plan.tables().join(", ")
        ).into()));
    }
    let view = plan.view(&|domain: &str, bytes: &[u8]| j.fingerprint(domain, bytes));
    let mode = if on_copy {
        Mode::RehearseOnCopy
    } else {
        Mode::Rehearse
    };
    let applied = apply_with(
        s,
        j,
        &plan,
        "drill: rehearse the emergency-admin recovery",
        mode,
    )
    .await?;
    timer.add(applied.steps.clone());
    let until_verified: f64 = timer
        .steps
        .iter()
        .take_while(|t| t.step != "rollback" && t.step != "commit")
        .filter(|t| !t.step.starts_with("journal outcome"))
        .map(|t| t.millis)
        .sum();
    let total: f64 = timer.steps.iter().map(|t| t.millis).sum();
    let posture = posture::check(s, dormant_days).await?;
    let chain = j.verify().map_err(OpError::Journal)?;
    Ok(DrillReport {
        started_at,
        target: s.target.clone(),
        connector: s.connector.name.clone(),
        account: diag.label(),
        admin_problems: diag.problems.clone(),
        on_copy,
        rolled_back: applied.rehearsed,
        steps: timer.steps.clone(),
        time_to_recover_ms: until_verified,
        total_ms: total,
        journal_intent: applied.intent_entry,
        journal_outcome: applied.outcome_entry,
        plan: view,
        posture,
        chain,
    })
}

/// The restored copy a drill runs on (`--on-copy URL`): never the target itself.
pub fn copy_target(main: Option<&str>, copy_url: &str) -> Result<crate::backend::Target, OpError> {
    use crate::backend::Target;
    let mut copy = Target::parse(copy_url).map_err(|e| OpError::Usage(e.to_string().into()))?;
    if let Some(main) = main
        && Target::parse(main).is_ok_and(|t| t.display() == copy.display())
    {
        return Err(OpError::Usage(
            "--on-copy names the --target itself; give the URL of a restored copy".into(),
        ));
    }
    copy.resolve_password();
    Ok(copy)
}

/// `drill-<UTC time>.md` next to the journal: where the console keeps reports.
pub fn report_path(journal: &std::path::Path, started_at: &str) -> std::path::PathBuf {
    let stamp: String = started_at
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    journal.with_file_name(format!("drill-{stamp}.md"))
}

/// A report format is `md` or `json`; anything else is a usage error.
pub fn check_report_format(format: &str) -> Result<(), OpError> {
    match format {
        "md" | "json" => Ok(()),
        other => Err(OpError::Usage(
            format!("--format `{other}`: use md or json").into(),
        )),
    }
}

/// The report in `md` or `json`.
pub fn render_report(r: &DrillReport, format: &str) -> Result<String, OpError> {
    check_report_format(format)?;
    Ok(match format {
        "json" => serde_json::to_string_pretty(r).unwrap_or_default() + "\n",
        _ => r.markdown(),
    })
}

/// Writes the report; the drill itself is already journaled.
pub fn save_report(r: &DrillReport, path: &std::path::Path, body: &str) -> Result<(), OpError> {
    std::fs::write(path, body).map_err(|e| {
        OpError::Usage(format!(
            "the drill ran (journal entries {} and {}) but its report could not be written to {}: {e}",
            r.journal_intent,
            r.journal_outcome,
            path.display()
        ).into())
    })
}

impl DrillReport {
    /// The report as Markdown: steps and timings, posture, journal chain.
    pub fn markdown(&self) -> String {
        let mut t = format!(
            "# Locksmith drill report\n\n- started: {}\n- target: {}{}\n- connector: {}\n- emergency admin: {}\n- result: {}\n- time to recover: **{:.1} ms** (connect to verified)\n- total: {:.1} ms\n- journal: drill entry {} (outcome entry {})\n\n",
            self.started_at,
            self.target,
            if self.on_copy {
                " (a restored copy)"
            } else {
                ""
            },
            self.connector,
            self.account,
            if self.rolled_back {
                "applied, verified and rolled back: the target is unchanged"
            } else {
                "applied and verified on the copy (non-transactional: the copy keeps the change)"
            },
            self.time_to_recover_ms,
            self.total_ms,
            self.journal_intent,
            self.journal_outcome
        );
        if !self.admin_problems.is_empty() {
            t.push_str("## What a real restore would fix\n\n");
            for p in &self.admin_problems {
                t.push_str(&format!("- {}: {}\n", p.code, p.message));
            }
            t.push('\n');
        }
        t.push_str("## Steps\n\n| step | ms |\n|---|---:|\n");
        for s in &self.steps {
            t.push_str(&format!(
                "| {} | {:.1} |\n",
                s.step.replace('|', "/"),
                s.millis
            ));
        }
        t.push_str("\n## Plan rehearsed\n\n");
        for st in &self.plan.statements {
            t.push_str(&format!("- {}: `{}`\n", st.purpose, st.sql));
        }
        t.push_str("\n## Posture checks\n\n| check | level | finding |\n|---|---|---|\n");
        for f in &self.posture.findings {
            let level = match f.level {
                posture::Level::Ok => "ok",
                posture::Level::Warn => "warn",
                posture::Level::Fail => "FAIL",
            };
            let mut msg = f.message.clone();
            if !f.accounts.is_empty() {
                msg.push_str(&format!(" — {}", f.accounts.join(", ")));
            }
            t.push_str(&format!(
                "| {} | {level} | {} |\n",
                f.check,
                msg.replace('|', "/")
            ));
        }
        t.push_str(&format!(
            "\n## Journal chain\n\n{}: {} entries, head {}\n",
            match &self.chain.problem {
                None => "intact".to_string(),
                Some(p) => format!("BROKEN at entry {} ({})", p.entry_id, p.message),
            },
            self.chain.entries,
            self.chain.head_hash.as_deref().unwrap_or("(empty)")
        ));
        t
    }
}
