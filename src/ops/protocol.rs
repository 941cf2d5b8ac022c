//! The one write path. Every change to a target goes through `apply`:
//! before-image (read while planning) → intent journaled durably → guarded
//! UPDATE in a transaction, exactly one row → re-read and verify with the
//! vendor's scheme → commit → outcome journaled.
//!
//! Several sessions may write through one journal at once. The journal owns
//! each intent for its writer (an OS lock) until the outcome is written;
//! `reconcile` settles only intents nobody owns, reading the row with a
//! locking read that it holds until its entry is journaled, and a writer
//! checks before COMMIT that nobody settled its intent meanwhile.

use serde::Serialize;
use serde_json::json;

use std::time::Instant;

use super::account::read_columns;
use super::plan::{Action, Donor, Plan, same_value};
use super::sql::Stmt;
use super::{OpError, Session, account};
use crate::backend::{BackendError, Value};
use crate::i18n::Said;
use crate::journal::{Claim, EntryKind, Journal, NewEntry, Outcome};
use crate::secret::Password;

#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub intent_entry: i64,
    pub outcome_entry: i64,
    pub account: String,
    pub verified: bool,
    /// true when the transaction was rolled back on purpose (a drill).
    pub rehearsed: bool,
    /// Each step of the protocol and how long it took.
    pub steps: Vec<StepTime>,
    /// A reconcile entry another session wrote for this intent while it was
    /// in flight (it agrees: the outcome entry names it).
    pub reconciled_by: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepTime {
    /// The step's name (a `step.*` catalog word, or a statement's purpose in English).
    pub step: String,
    pub millis: f64,
    /// A statement's purpose, for shells that word it in the operator's language.
    #[serde(skip)]
    pub said: Option<crate::i18n::Said>,
}

/// Commit the change, or rehearse it: everything up to and including the
/// verification, then ROLLBACK instead of COMMIT (the drill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Commit,
    Rehearse,
    /// A rehearsal on a restored copy (`drill --on-copy`): non-transactional
    /// tables are allowed there, and keep the change.
    RehearseOnCopy,
}

impl Mode {
    pub fn rehearsal(self) -> bool {
        self != Mode::Commit
    }
}

fn fp(j: &Journal, column: &str, v: &Value) -> String {
    j.fingerprint(&format!("column:{column}"), &v.canonical_bytes())
}

/// The intent's details: what will be written, as fingerprints only; with
/// `[journal] seal_to`, a committed write's before-values sealed (undo).
fn intent_details(
    s: &Session,
    plan: &Plan,
    j: &Journal,
    mode: Mode,
) -> Result<serde_json::Value, OpError> {
    let sealed = match mode {
        Mode::Commit => super::undo::seal_before(s, plan)?,
        _ => None,
    };
    Ok(json!({
        "table": plan.table,
        "pk": { "column": s.connector.columns.id, "value": plan.account.id_text() },
        "sql": plan.sql(),
        "statements": plan.statements.iter().map(|st| json!({
            "purpose": st.purpose,
            "table": st.table,
            "sql": st.sql,
        })).collect::<Vec<_>>(),
        "creates_row": plan.creates_row,
        "columns": plan.changes.iter().map(|c| json!({
            "column": c.column,
            "before": fp(j, &c.column, &c.before),
            "after": fp(j, &c.column, &c.after),
        })).collect::<Vec<_>>(),
        "guarded": plan.guarded,
        "scheme": plan.scheme_id,
        "method": plan.method(),
        "donor": plan.donor.as_ref().and_then(|d| d.donor_label()),
        "backup": plan.backup(),
        "encoder": s.encoder.as_ref().filter(|_| plan.new_password.is_some()).map(|e| json!({
            "identity": e.identity,
            "program": e.program,
        })),
        "transactional": plan.transactional,
        "warnings": plan.warnings,
        "target": s.target,
        "rehearsal": mode.rehearsal(),
        "on_copy": mode == Mode::RehearseOnCopy,
        "sealed_before": sealed,
    }))
}

fn entry(
    s: &Session,
    plan: &Plan,
    kind: EntryKind,
    refers_to: Option<i64>,
    reason: &str,
    outcome: Option<Outcome>,
    details: serde_json::Value,
) -> NewEntry {
    NewEntry {
        kind,
        refers_to,
        action: plan.action.name().to_string(),
        account: Some(plan.account.label()),
        reason: Some(reason.to_string()),
        outcome,
        actor: s.actor(),
        place: s.place(),
        details,
    }
}

/// The journal kind of a plan's intent: a break-glass restore and a drill
/// are told apart from ordinary writes.
fn intent_kind(plan: &Plan, mode: Mode) -> EntryKind {
    match (mode, plan.action) {
        (Mode::Rehearse | Mode::RehearseOnCopy, _) => EntryKind::Drill,
        (Mode::Commit, Action::RestoreAdmin) => EntryKind::BreakGlass,
        (Mode::Commit, _) => EntryKind::Intent,
    }
}

/// Runs the write protocol for a plan. `reason` is required by the caller.
pub async fn apply(
    s: &mut Session,
    j: &mut Journal,
    plan: &Plan,
    reason: &str,
) -> Result<Applied, OpError> {
    apply_with(s, j, plan, reason, Mode::Commit).await
}

struct Clock {
    steps: Vec<StepTime>,
    last: Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            steps: Vec::new(),
            last: Instant::now(),
        }
    }
    fn lap(&mut self, step: &str) {
        let now = Instant::now();
        self.steps.push(StepTime {
            step: step.to_string(),
            millis: now.duration_since(self.last).as_secs_f64() * 1000.0,
            said: None,
        });
        self.last = now;
    }
}

/// The one write path: intent → transaction → every guarded statement
/// matches exactly one row → re-read and verify → COMMIT (or, rehearsing,
/// ROLLBACK) → outcome.
pub async fn apply_with(
    s: &mut Session,
    j: &mut Journal,
    plan: &Plan,
    reason: &str,
    mode: Mode,
) -> Result<Applied, OpError> {
    if plan.nothing_to_do() || plan.statements.is_empty() {
        return Err(OpError::Refused(
            format!(
                "{} needs no change; nothing was written",
                plan.account.label()
            )
            .into(),
        ));
    }
    // A replica or standby: refused before the journal is touched.
    if let Some(ro) = s.backend.read_only() {
        return Err(OpError::Refused(ro.refusal().into()));
    }
    if mode == Mode::Rehearse && !plan.transactional {
        return Err(OpError::Refused(format!(
            "a rehearsal needs transactional tables, and {} is not (MyISAM?): it could not be rolled back; nothing was written",
            plan.tables().join(", ")
        ).into()));
    }
    // An external encoder writes only after it reproduced a known value here.
    if plan.new_password.is_some() {
        encoder_gate(s, j)?;
    }
    let mut clock = Clock::new();
    // Started when the plan was built (it may be done by now, while the
    // operator confirmed), else here.
    let early = plan.early.take().or_else(|| EarlyCheck::start(s, plan));
    // Step 3: intent, durable before the target is touched.
    let details = intent_details(s, plan, j, mode)?;
    // Owned by this session until its outcome: no reconcile elsewhere touches it.
    let intent = j
        .append_owned(&entry(
            s,
            plan,
            intent_kind(plan, mode),
            None,
            reason,
            None,
            details,
        ))
        .map_err(OpError::Journal)?;
    tracing::debug!(intent, account = %plan.account.label(), "intent journaled");
    clock.lap("journal intent");
    let in_flight = InFlight {
        plan,
        reason,
        mode,
        intent,
        deferred: None,
    };
    // `forward_required`: the receiver must have acknowledged the intent.
    let result = match j.unacknowledged(intent) {
        Some(why) => refuse_unforwarded(s, j, &in_flight, &why),
        None => transact(s, j, &in_flight, clock, early).await,
    };
    // Whatever happened, this session is done with the intent: an outcome
    // released it already; without one (the journal failed) reconcile may take it.
    j.release(intent);
    result
}

/// The intent is durable here but the RELP receiver did not acknowledge it:
/// nothing touches the target; the refusal is journaled as its outcome
/// (forwarded with the rest once the receiver is back).
fn refuse_unforwarded(
    s: &Session,
    j: &mut Journal,
    f: &InFlight<'_>,
    why: &str,
) -> Result<Applied, OpError> {
    let said = Said::key(
        "said.forward.unacknowledged",
        &[("entry", &f.intent), ("why", &why)],
    );
    f.outcome(
        s,
        j,
        Outcome::Refused,
        json!({ "refused": said.to_string(), "forward_required": true }),
    )
    .map_err(OpError::Journal)?;
    Err(OpError::NotForwarded(said))
}

/// Another session's reconcile entry for `intent`, as (entry, outcome).
fn reconciled_as(j: &mut Journal, intent: i64) -> Result<Option<(i64, Outcome)>, OpError> {
    Ok(j.reconciled(intent)
        .map_err(OpError::Journal)?
        .and_then(|e| e.entry.outcome.map(|o| (e.id, o))))
}

/// One journaled intent in flight: what its outcome entry refers to.
struct InFlight<'p> {
    plan: &'p Plan,
    reason: &'p str,
    mode: Mode,
    intent: i64,
    /// A batch: outcomes wait here and are journaled together after the
    /// batch's statements (`apply_batch`); the intents stay owned until then.
    deferred: Option<&'p std::cell::RefCell<Vec<NewEntry>>>,
}

impl InFlight<'_> {
    /// Journals the outcome (its id), or, in a batch, queues it (id 0 until
    /// the batch's outcomes are durable).
    fn outcome(
        &self,
        s: &Session,
        j: &mut Journal,
        o: Outcome,
        details: serde_json::Value,
    ) -> Result<i64, crate::journal::JournalError> {
        let e = entry(
            s,
            self.plan,
            EntryKind::Outcome,
            Some(self.intent),
            self.reason,
            Some(o),
            details,
        );
        match self.deferred {
            Some(queue) => {
                queue.borrow_mut().push(e);
                Ok(0)
            }
            None => j.append(&e),
        }
    }
}

/// One write of a batch: its plan and what its intent records besides the
/// plan (the batch id, values to restore).
pub struct Batched<'p> {
    pub plan: &'p Plan,
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// The write protocol for many single-row plans at once (offboarding): the
/// intents of the batch are journaled in one durable transaction before any
/// of their UPDATEs runs; then each plan runs its own transaction (guarded
/// UPDATE, verify, COMMIT) exactly as `apply` does; then the outcomes are
/// journaled in one durable transaction. A crash in between leaves intents
/// without outcome, which `reconcile` settles from the rows. One result per
/// plan, in order; the outer error means nothing of the batch was written
/// (the intents could not be journaled) or its outcomes could not be.
pub async fn apply_batch(
    s: &mut Session,
    j: &mut Journal,
    batch: &[Batched<'_>],
    reason: &str,
) -> Result<Vec<Result<Applied, OpError>>, OpError> {
    if let Some(ro) = s.backend.read_only() {
        return Err(OpError::Refused(ro.refusal().into()));
    }
    if batch.iter().any(|b| b.plan.new_password.is_some()) {
        encoder_gate(s, j)?;
    }
    let mut intents = Vec::with_capacity(batch.len());
    for b in batch {
        let mut details = intent_details(s, b.plan, j, Mode::Commit)?;
        if let Some(map) = details.as_object_mut() {
            map.extend(b.details.clone());
        }
        let kind = intent_kind(b.plan, Mode::Commit);
        intents.push(entry(s, b.plan, kind, None, reason, None, details));
    }
    let ids = j.append_all_owned(&intents).map_err(OpError::Journal)?;
    let queue = std::cell::RefCell::new(Vec::new());
    let mut results = Vec::with_capacity(batch.len());
    for (b, intent) in batch.iter().zip(&ids) {
        let f = InFlight {
            plan: b.plan,
            reason,
            mode: Mode::Commit,
            intent: *intent,
            deferred: Some(&queue),
        };
        let result = if b.plan.nothing_to_do() || b.plan.statements.is_empty() {
            let msg = format!(
                "{} needs no change; nothing was written",
                b.plan.account.label()
            );
            let _ = f.outcome(s, j, Outcome::Refused, json!({ "error": msg }));
            Err(OpError::Refused(msg.into()))
        } else {
            let early = b.plan.early.take().or_else(|| EarlyCheck::start(s, b.plan));
            transact(s, j, &f, Clock::new(), early).await
        };
        results.push(result);
    }
    let outcomes = queue.into_inner();
    let written = j.append_all(&outcomes);
    for id in &ids {
        j.release(*id);
    }
    let outcome_ids = written.map_err(OpError::JournalAfterCommit)?;
    // Each queued outcome refers to its intent: give each result its entry.
    let by_intent: std::collections::HashMap<i64, i64> = outcomes
        .iter()
        .zip(&outcome_ids)
        .filter_map(|(o, id)| Some((o.refers_to?, *id)))
        .collect();
    for applied in results.iter_mut().filter_map(|r| r.as_mut().ok()) {
        if let Some(id) = by_intent.get(&applied.intent_entry) {
            applied.outcome_entry = *id;
        }
    }
    Ok(results)
}

/// Steps 4 to 6 for a journaled intent: transaction, guarded statements,
/// verification, COMMIT (or ROLLBACK), outcome.
async fn transact(
    s: &mut Session,
    j: &mut Journal,
    f: &InFlight<'_>,
    mut clock: Clock,
    early: Option<EarlyCheck>,
) -> Result<Applied, OpError> {
    run_statements(s, j, f, &mut clock, early).await?;
    if f.mode.rehearsal() {
        finish_rehearsal(s, j, f, clock).await
    } else {
        finish_commit(s, j, f, clock).await
    }
}

/// Steps 4 and 5: BEGIN, every guarded statement matching exactly one row,
/// then the re-read and verification; any failure rolls back and journals
/// the outcome.
async fn run_statements(
    s: &mut Session,
    j: &mut Journal,
    f: &InFlight<'_>,
    clock: &mut Clock,
    early: Option<EarlyCheck>,
) -> Result<(), OpError> {
    // Step 4: one transaction, every statement guarded, exactly one row each.
    if let Err(e) = s.backend.begin().await {
        let _ = f.outcome(
            s,
            j,
            Outcome::Failed,
            json!({ "error": e.to_string(), "step": "begin" }),
        );
        return Err(e.into());
    }
    clock.lap("begin");
    for (i, st) in f.plan.statements.iter().enumerate() {
        let step = if i == 0 {
            "update".to_string()
        } else {
            format!("statement {}", i + 1)
        };
        let matched = match s.backend.execute(&st.sql, &st.params).await {
            Ok(n) => n,
            Err(e) => {
                let _ = s.backend.rollback().await;
                // Nothing was committed; a lost link leaves the server to roll back.
                let o = if matches!(e, BackendError::ConnectionLost(_)) && f.mode == Mode::Commit {
                    Outcome::Unknown
                } else if f.mode.rehearsal() {
                    Outcome::RolledBack
                } else {
                    Outcome::Failed
                };
                let _ = f.outcome(
                    s,
                    j,
                    o,
                    json!({ "error": e.to_string(), "step": step, "purpose": st.purpose }),
                );
                return Err(e.into());
            }
        };
        tracing::debug!(matched, purpose = %st.purpose, "guarded statement");
        if matched != 1 {
            let _ = s.backend.rollback().await;
            let msg = if i == 0 && !f.plan.creates_row {
                format!(
                    "the guarded UPDATE matched {matched} rows instead of 1: {} changed since it was read (another client wrote to it); nothing was written, re-run to plan again",
                    f.plan.account.label()
                )
            } else {
                format!(
                    "the guarded statement `{}` affected {matched} rows instead of 1: the target changed since it was read (the row or link already exists, or another client wrote to it); everything was rolled back, re-run to plan again",
                    st.purpose
                )
            };
            let _ = f.outcome(
                s,
                j,
                Outcome::Refused,
                json!({ "matched_rows": matched, "step": step, "error": msg }),
            );
            return Err(OpError::Refused(msg.into()));
        }
        clock.lap(&st.purpose.to_string());
        if let Some(last) = clock.steps.last_mut() {
            last.said = Some(st.purpose.clone());
        }
    }

    // Step 5: re-read and verify.
    if let Err(msg) = verify(s, f.plan, early).await {
        let rolled_back = s.backend.rollback().await.is_ok() && f.plan.transactional;
        let _ = f.outcome(
            s,
            j,
            if rolled_back {
                Outcome::RolledBack
            } else {
                Outcome::Unknown
            },
            json!({ "step": "verify", "error": msg }),
        );
        return Err(OpError::VerifyFailed(msg));
    }
    tracing::debug!("verified after write");
    clock.lap("verify");
    Ok(())
}

/// The drill: everything was done and verified; now undo it.
async fn finish_rehearsal(
    s: &mut Session,
    j: &mut Journal,
    f: &InFlight<'_>,
    mut clock: Clock,
) -> Result<Applied, OpError> {
    if let Err(e) = s.backend.rollback().await {
        let _ = f.outcome(
            s,
            j,
            Outcome::Failed,
            json!({ "step": "rollback", "error": e.to_string(), "rehearsal": true }),
        );
        return Err(e.into());
    }
    clock.lap("rollback");
    // Only a non-transactional copy keeps the change (apply_with refused it elsewhere).
    let kept = !f.plan.transactional;
    let done = f
        .outcome(
            s,
            j,
            if kept {
                Outcome::Committed
            } else {
                Outcome::RolledBack
            },
            json!({
                "verified": true,
                "rehearsal": true,
                "on_copy": f.mode == Mode::RehearseOnCopy,
                "statements": f.plan.statements.len(),
            }),
        )
        .map_err(OpError::Journal)?;
    clock.lap("journal outcome");
    Ok(Applied {
        intent_entry: f.intent,
        outcome_entry: done,
        account: f.plan.account.label(),
        verified: true,
        rehearsed: !kept,
        steps: clock.steps,
        reconciled_by: None,
    })
}

/// Step 6: COMMIT (unless another session settled the intent meanwhile), then the outcome.
async fn finish_commit(
    s: &mut Session,
    j: &mut Journal,
    f: &InFlight<'_>,
    mut clock: Clock,
) -> Result<Applied, OpError> {
    // A reconcile elsewhere settled this intent while it was in flight (a
    // race the ownership lock could not rule out: a session without it, a
    // lock folder on a filesystem without locks). Its locking read held the
    // row until its entry was durable, so it is visible now; agree with it.
    let settled = match reconciled_as(j, f.intent) {
        Ok(found) => found,
        Err(e) => {
            let _ = s.backend.rollback().await;
            return Err(e);
        }
    };
    if let Some((entry, o)) = &settled
        && *o != Outcome::Committed
    {
        let _ = s.backend.rollback().await;
        let msg = format!(
            "journal entry {entry} (a reconcile in another session) already recorded intent {} as {} while this write was in flight; the transaction was rolled back so that the journal and the row agree; nothing was written, re-run to plan again",
            f.intent,
            outcome_name(o)
        );
        let _ = f.outcome(
            s,
            j,
            Outcome::RolledBack,
            json!({ "step": "commit", "reconciled_by": entry, "reconciled_as": o, "error": msg }),
        );
        return Err(OpError::Refused(msg.into()));
    }

    // Step 6: commit, then the outcome.
    if let Err(e) = s.backend.commit().await {
        let lost = matches!(e, BackendError::ConnectionLost(_));
        let o = if lost {
            Outcome::Unknown
        } else {
            Outcome::Failed
        };
        let _ = f.outcome(s, j, o, json!({ "step": "commit", "error": e.to_string() }));
        return Err(if lost {
            OpError::OutcomeUnknown {
                intent: f.intent,
                reason: e.to_string(),
            }
        } else {
            e.into()
        });
    }
    clock.lap("commit");
    let mut details =
        json!({ "verified": true, "matched_rows": 1, "statements": f.plan.statements.len() });
    // Said in the outcome, so a reader sees both entries belong together.
    let settled = match settled {
        Some(found) => Some(found),
        None => reconciled_as(j, f.intent).unwrap_or(None),
    };
    if let Some((entry, o)) = &settled {
        details["reconciled_by"] = json!(entry);
        details["reconciled_as"] = json!(o);
    }
    let done = f
        .outcome(s, j, Outcome::Committed, details)
        .map_err(OpError::JournalAfterCommit)?;
    clock.lap("journal outcome");
    Ok(Applied {
        intent_entry: f.intent,
        outcome_entry: done,
        account: f.plan.account.label(),
        verified: true,
        rehearsed: false,
        steps: clock.steps,
        reconciled_by: settled.map(|(entry, _)| entry),
    })
}

fn outcome_name(o: &Outcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Reads the row back by primary key and checks every written column; the
/// password is checked with the vendor's scheme against the new password;
/// every post-check (a re-created role link) must find its row.
async fn verify(s: &mut Session, plan: &Plan, early: Option<EarlyCheck>) -> Result<(), String> {
    let after = account::read_by_pk(s, &plan.account.id)
        .await
        .map_err(|e| format!("re-reading the row failed: {e}"))?
        .ok_or_else(|| format!("{} is gone after the UPDATE", plan.account.label()))?;
    let extra: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.role.is_none())
        .map(|c| c.column.clone())
        .collect();
    let extra_values = if extra.is_empty() {
        Vec::new()
    } else {
        read_columns(s, &plan.account.id, &extra)
            .await
            .map_err(|e| format!("re-reading the row failed: {e}"))?
            .unwrap_or_default()
    };
    for change in &plan.changes {
        let now = match change.role {
            Some(role) => after.get(role).cloned().unwrap_or(Value::Null),
            None => extra
                .iter()
                .position(|c| *c == change.column)
                .and_then(|i| extra_values.get(i).cloned())
                .unwrap_or(Value::Null),
        };
        if !same_value(&now, &change.after) {
            return Err(format!(
                "column `{}` does not hold the written value after the UPDATE (a trigger or column width may have changed it)",
                change.column
            ));
        }
    }
    if let Some(password) = &plan.new_password {
        let stored = after.stored_password();
        let (login, salt) = after.scheme_input();
        let ok = match early.filter(|e| e.login == login && e.salt == salt && e.stored == stored) {
            // The re-read holds exactly what the early check verified.
            Some(e) => e.result.await.unwrap_or_else(|e| Err(e.to_string())),
            None => after
                .with_input(|input| s.scheme.verify(password, input, &stored))
                .map_err(|e| e.to_string()),
        }
        .map_err(|e| format!("the scheme could not verify the stored value: {e}"))?;
        if !ok {
            return Err(format!(
                "the stored value does not verify against the new password with {}",
                s.scheme.id()
            ));
        }
    }
    if let Some(donor) = &plan.donor {
        verify_copies(s, plan, donor).await?;
    }
    for check in &plan.post_checks {
        let rows = s
            .backend
            .query(&check.sql, &check.params)
            .await
            .map_err(|e| format!("re-reading {} failed: {e}", check.what))?;
        if rows.is_empty() {
            return Err(format!(
                "{} is missing after the statements ran",
                check.what
            ));
        }
    }
    Ok(())
}

/// The scheme's check of the new password against the values the plan
/// writes, started on a blocking thread before the intent: a slow scheme
/// (bcrypt, argon2) then costs one hash on the critical path, not two, as
/// the check runs while the journal syncs and the statements travel. It
/// stands for the check of the re-read row only when the row holds exactly
/// these values, and it is awaited before COMMIT.
pub(crate) struct EarlyCheck {
    login: String,
    salt: Option<String>,
    stored: String,
    result: tokio::task::JoinHandle<Result<bool, String>>,
}

impl EarlyCheck {
    pub(crate) fn start(s: &Session, plan: &Plan) -> Option<EarlyCheck> {
        let password = plan.new_password.clone()?;
        let written = |role: &str| {
            plan.changes
                .iter()
                .find(|c| c.role == Some(role))
                .map(|c| c.after.as_text())
        };
        if written("login").is_some() {
            return None;
        }
        let stored = written("password")??;
        let salt = written("salt").unwrap_or_else(|| plan.account.text("salt"));
        let login = plan.account.login.clone();
        let scheme = std::sync::Arc::clone(&s.scheme);
        let input = (login.clone(), salt.clone(), stored.clone());
        let result = tokio::task::spawn_blocking(move || {
            let (login, salt, stored) = input;
            let account = crate::schemes::AccountInput {
                login: &login,
                salt: salt.as_deref(),
            };
            scheme
                .verify(&password, &account, &stored)
                .map_err(|e| e.to_string())
        });
        Some(EarlyCheck {
            login,
            salt,
            stored,
            result,
        })
    }
}

/// A plan's [`EarlyCheck`], handed from `plan::build` to the apply that
/// uses it once (a clone of the plan shares it; the other apply starts its own).
#[derive(Clone, Default)]
pub struct SharedCheck(std::sync::Arc<std::sync::Mutex<Option<EarlyCheck>>>);

impl SharedCheck {
    pub(crate) fn new(check: Option<EarlyCheck>) -> SharedCheck {
        SharedCheck(std::sync::Arc::new(std::sync::Mutex::new(check)))
    }

    fn take(&self) -> Option<EarlyCheck> {
        self.0.lock().ok().and_then(|mut c| c.take())
    }
}

impl std::fmt::Debug for SharedCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCheck")
    }
}

/// The copied columns after the UPDATE: equal to the backup's values, or to
/// the live donor's values re-read now, inside the transaction.
async fn verify_copies(s: &mut Session, plan: &Plan, donor: &Donor) -> Result<(), String> {
    if let Some((identity, values)) = &donor.backup {
        // A backup restore: the written columns must equal the backup's values.
        let cols: Vec<String> = donor.copied.iter().map(|(t, _)| t.clone()).collect();
        let ours = read_columns(s, &plan.account.id, &cols)
            .await
            .map_err(|e| format!("re-reading the row failed: {e}"))?
            .ok_or_else(|| format!("{} is gone after the UPDATE", plan.account.label()))?;
        for ((col, mine), theirs) in cols.iter().zip(&ours).zip(values) {
            if !same_value(mine, theirs) {
                return Err(format!(
                    "column `{col}` of {} does not equal the value in the backup ({}) after the UPDATE (a trigger or column width changed it)",
                    plan.account.label(),
                    identity.label()
                ));
            }
        }
    } else {
        // The donor's values now, inside the transaction: the copies must equal them.
        let donor_cols: Vec<String> = donor.copied.iter().map(|(_, d)| d.clone()).collect();
        let target_cols: Vec<String> = donor.copied.iter().map(|(t, _)| t.clone()).collect();
        let theirs = read_columns(s, &donor.account.id, &donor_cols)
            .await
            .map_err(|e| format!("re-reading the donor failed: {e}"))?
            .ok_or_else(|| format!("the donor {} is gone", donor.account.label()))?;
        let ours = read_columns(s, &plan.account.id, &target_cols)
            .await
            .map_err(|e| format!("re-reading the row failed: {e}"))?
            .ok_or_else(|| format!("{} is gone after the UPDATE", plan.account.label()))?;
        for ((col, dcol), (mine, theirs)) in donor.copied.iter().zip(ours.iter().zip(&theirs)) {
            if !same_value(mine, theirs) {
                return Err(format!(
                    "column `{col}` of {} does not equal `{dcol}` of the donor {} after the UPDATE (the donor changed meanwhile, or a trigger or column width changed the copy)",
                    plan.account.label(),
                    donor.account.label()
                ));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub account: String,
    pub scheme: String,
    pub matches: bool,
    pub shape_ok: bool,
    /// The scheme's verification level (vendor-source, third-party, closed, external).
    pub level: &'static str,
    pub journal_entry: Option<i64>,
    /// The external encoder's identity, when one replaced the scheme.
    pub encoder_identity: Option<String>,
}

/// Refuses a write with a calibration-gated scheme — an external encoder or a
/// scheme known only from third-party code (Kingdee's FSID) — unless the
/// journal holds a successful calibration of the same encoder (identity) or
/// the same scheme (id) on the same target (engine, host:port, database).
/// Runs before any intent is journaled.
pub fn encoder_gate(s: &Session, j: &mut Journal) -> Result<(), OpError> {
    // What a calibration must have been made with: this encoder, or this scheme alone.
    let (identity, scheme_id) = match &s.encoder {
        Some(enc) => (Some(enc.identity.clone()), s.scheme.id()),
        None if s.scheme.level() == crate::schemes::Level::ThirdParty => (None, s.scheme.id()),
        None => return Ok(()),
    };
    let wanted = |d: &serde_json::Value| match &identity {
        Some(id) => d["encoder"]["identity"].as_str() == Some(id.as_str()),
        None => d["encoder"].is_null() && d["scheme"].as_str() == Some(scheme_id.as_str()),
    };
    let place = s.place();
    let calibrated = j
        .of_kind(EntryKind::Calibrate)
        .map_err(OpError::Journal)?
        .iter()
        .any(|e| {
            let d = &e.entry.details;
            d["matches"].as_bool() == Some(true)
                && wanted(d)
                && e.entry.place.engine == place.engine
                && e.entry.place.host == place.host
                && e.entry.place.database == place.database
        });
    if calibrated {
        return Ok(());
    }
    Err(OpError::Refused(match &s.encoder {
        Some(enc) => format!(
            "the external encoder {} ({}) has not been calibrated on {}/{}: run `locksmith calibrate <a donor whose password you know>` with this encoder first (an edited encoder needs a new calibration); nothing was written",
            enc.program, enc.identity, place.host, place.database
        )
        .into(),
        None => Said::key(
            "gate.third_party",
            &[
                ("scheme", &scheme_id),
                ("host", &place.host),
                ("database", &place.database),
            ],
        ),
    }))
}

/// Does the connector's scheme reproduce this account's stored value for a
/// password the operator knows? Proof of the format before any reset.
pub async fn calibrate(
    s: &mut Session,
    j: Option<&mut Journal>,
    account: &str,
    known: &Password,
) -> Result<Calibration, OpError> {
    super::plan::refuse_directory_password(s)?;
    let a = account::resolve(s, account).await?;
    let stored = a.stored_password();
    // A value in an older format the vendor still accepts is calibrated with that format.
    let scheme = s.scheme_for(&stored);
    let matches = a.with_input(|input| scheme.verify(known, input, &stored))?;
    let mut result = Calibration {
        account: a.label(),
        scheme: scheme.id(),
        matches,
        shape_ok: scheme.has_shape(&stored),
        level: scheme.level().as_str(),
        journal_entry: None,
        encoder_identity: None,
    };
    // Only a calibration the encoder itself made counts for the encoder gate.
    let encoder = s.encoder.as_ref().filter(|_| scheme.id() == s.scheme.id());
    result.encoder_identity = encoder.map(|e| e.identity.clone());
    if let Some(j) = j {
        let e = NewEntry {
            kind: EntryKind::Calibrate,
            refers_to: None,
            action: "calibrate".into(),
            account: Some(a.label()),
            reason: None,
            outcome: None,
            actor: s.actor(),
            place: s.place(),
            details: json!({
                "scheme": result.scheme,
                "level": scheme.level().as_str(),
                "matches": matches,
                "shape_ok": result.shape_ok,
                "encoder": encoder.map(|e| json!({
                    "identity": e.identity,
                    "program": e.program,
                    "origin": e.origin,
                })),
            }),
        };
        result.journal_entry = Some(j.append(&e).map_err(OpError::Journal)?);
    }
    Ok(result)
}

#[derive(Debug, Clone, Serialize)]
pub struct Reconciled {
    pub intent: i64,
    pub account: String,
    /// What the row showed: "applied", "not_applied", "changed_since" or
    /// "row_missing"; or why the intent was left open: "in_progress" (a live
    /// session owns it, or holds its row beyond lock-wait) or "read_only"
    /// (the target is a replica, which may lag its primary).
    pub found: String,
    /// The reconcile entry; `None` when the intent was left open.
    pub entry: Option<i64>,
}

impl Reconciled {
    /// The note both shells show before planning a write.
    pub fn note(&self) -> String {
        match (self.found.as_str(), self.entry) {
            ("in_progress", _) => format!(
                "journal entry {} ({}) has no outcome yet: it is in progress in another session; left open",
                self.intent, self.account
            ),
            ("read_only", _) => format!(
                "journal entry {} ({}) has no outcome; the target is read-only (a replica may lag), so it is left open: reconcile it through the primary",
                self.intent, self.account
            ),
            (found, Some(entry)) => format!(
                "journal entry {} ({}) had no outcome; the row shows it {} — recorded as entry {entry}",
                self.intent,
                self.account,
                found.replace('_', " "),
            ),
            (found, None) => format!(
                "journal entry {} ({}): {}",
                self.intent,
                self.account,
                found.replace('_', " ")
            ),
        }
    }
}

/// Settles intents without an outcome (a crash or a lost connection at
/// commit) for this target: reads each row and records what it holds.
/// Intents a live session owns are left open ("in_progress"), and so is
/// everything on a read-only target.
pub async fn reconcile(s: &mut Session, j: &mut Journal) -> Result<Vec<Reconciled>, OpError> {
    let place = s.place();
    let open = j.open_intents().map_err(OpError::Journal)?;
    let read_only = s.backend.read_only().is_some();
    let mut out = Vec::new();
    for intent in open.into_iter().filter(|e| e.entry.place == place) {
        let left_open = |found: &str| Reconciled {
            intent: intent.id,
            account: intent.entry.account.clone().unwrap_or_default(),
            found: found.to_string(),
            entry: None,
        };
        if read_only {
            out.push(left_open("read_only"));
            continue;
        }
        // Not a row write (nothing to read back): left as it is, as always.
        if intent.entry.details["pk"]["value"].as_str().is_none() {
            continue;
        }
        let claim = match j.claim(intent.id).map_err(OpError::Journal)? {
            Claim::Mine(claim) => claim,
            Claim::InProgress => {
                out.push(left_open("in_progress"));
                continue;
            }
            Claim::Settled => continue,
        };
        let entry = settle(s, j, &intent).await;
        // The claim ends only after the entry is durable (or nothing was written).
        drop(claim);
        match entry? {
            Some(r) => out.push(r),
            None => out.push(left_open("in_progress")),
        }
    }
    Ok(out)
}

/// The columns an intent's details name, with their before- and
/// after-fingerprints: (column, before, after). Reconcile and undo read them.
pub(crate) fn journaled_columns(details: &serde_json::Value) -> Vec<(String, String, String)> {
    details["columns"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some((
                        c["column"].as_str()?.to_string(),
                        c["before"].as_str()?.to_string(),
                        c["after"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one intent's row with a locking read inside a transaction and
/// journals what it holds; the row stays locked until the entry is durable,
/// so a writer cannot commit between our read and our entry. `None` when
/// another transaction held the row beyond lock-wait.
async fn settle(
    s: &mut Session,
    j: &mut Journal,
    intent: &crate::journal::Entry,
) -> Result<Option<Reconciled>, OpError> {
    let d = &intent.entry.details;
    let pk = d["pk"]["value"].as_str().unwrap_or_default();
    let columns = journaled_columns(d);
    let names: Vec<String> = columns.iter().map(|c| c.0.clone()).collect();
    s.backend.begin().await?;
    let current = match read_locked(s, &Value::Text(pk.to_string()), &names).await {
        Ok(v) => v,
        Err(e) => {
            let _ = s.backend.rollback().await;
            return match e {
                OpError::Backend(BackendError::LockTimeout(_)) => Ok(None),
                other => Err(other),
            };
        }
    };
    let creates_row = d["creates_row"].as_bool().unwrap_or(false);
    let found = match current {
        None if creates_row => "not_applied".to_string(),
        None => "row_missing".to_string(),
        Some(values) => {
            let now: Vec<String> = names
                .iter()
                .zip(&values)
                .map(|(c, v)| fp(j, c, v))
                .collect();
            if columns.iter().zip(&now).all(|(c, n)| c.2 == *n) {
                "applied".into()
            } else if columns.iter().zip(&now).all(|(c, n)| c.1 == *n) {
                "not_applied".into()
            } else {
                "changed_since".into()
            }
        }
    };
    let outcome = match found.as_str() {
        "applied" => Outcome::Committed,
        "not_applied" => Outcome::RolledBack,
        _ => Outcome::Unknown,
    };
    let entry = j.append(&NewEntry {
        kind: EntryKind::Reconcile,
        refers_to: Some(intent.id),
        action: intent.entry.action.clone(),
        account: intent.entry.account.clone(),
        reason: Some("reconcile an intent without outcome".into()),
        outcome: Some(outcome),
        actor: s.actor(),
        place: s.place(),
        details: json!({ "found": found, "locking_read": true }),
    });
    // Only read: ending the transaction releases the row.
    let _ = s.backend.rollback().await;
    let entry = entry.map_err(OpError::Journal)?;
    Ok(Some(Reconciled {
        intent: intent.id,
        account: intent.entry.account.clone().unwrap_or_default(),
        found,
        entry: Some(entry),
    }))
}

/// `read_columns` as a locking read (the dialect's `locking_read`), inside
/// the caller's transaction.
async fn read_locked(
    s: &mut Session,
    id: &Value,
    columns: &[String],
) -> Result<Option<Vec<Value>>, OpError> {
    let c = &s.connector;
    let dialect = s.backend.dialect();
    let mut stmt = Stmt::new(dialect);
    let cols: Vec<String> = columns.iter().map(|col| stmt.ident(col)).collect();
    let table = stmt.ident(&c.table_name());
    let id_col = stmt.ident(&c.columns.id);
    let ph = stmt.bind(id.clone());
    let sql = dialect.locking_read(&cols.join(", "), &table, &format!("{id_col} = {ph}"));
    stmt.push(&sql);
    let rows = s.backend.query(&stmt.text, &stmt.params).await?;
    Ok(rows.into_iter().next())
}
