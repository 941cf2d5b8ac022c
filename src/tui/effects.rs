//! The effect runner: turns the reducer's effects into background tasks that
//! call the same operations as the CLI (`ops::account`, `ops::plan`,
//! `ops::protocol`, the journal) and send their results back as messages.
//! It holds what must not live in the UI state: the session, the journal and
//! the plans (which carry the new password until they are applied or dropped).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::state::{
    AccountRow, Chain, ConnInfo, Detail, DrillDone, DrillStep, Effect, JournalRow, JournalView,
    Msg, PlanInfo, ResultInfo,
};
use crate::backend::{DbPassword, Target};
use crate::connector::Connector;
use crate::journal::Journal;
use crate::ops::plan::{self, Plan};
use crate::ops::{
    self, LookupFilter, OpError, PlanOptions, Session, account, drill, emergency, protocol,
};
use crate::schemes;
use crate::secret::Password;

pub struct Runner {
    tx: mpsc::UnboundedSender<Msg>,
    connectors: Rc<Vec<Connector>>,
    journal_paths: (PathBuf, PathBuf),
    session: Rc<Mutex<Option<Session>>>,
    journal: Rc<Mutex<Option<Journal>>>,
    plans: Rc<RefCell<HashMap<u64, Plan>>>,
    next_token: Rc<RefCell<u64>>,
    tasks: HashMap<u64, JoinHandle<()>>,
}

fn plain(e: &OpError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(" (caused by: {s})"));
        source = s.source();
    }
    text
}

/// Opens the journal on first use; writes are refused without it, like the CLI.
async fn journal<'a>(
    slot: &'a Mutex<Option<Journal>>,
    paths: &(PathBuf, PathBuf),
) -> Result<tokio::sync::MutexGuard<'a, Option<Journal>>, OpError> {
    let mut guard = slot.lock().await;
    if guard.is_none() {
        *guard = Some(crate::config::open_journal(&paths.0, &paths.1).map_err(OpError::Journal)?);
    }
    Ok(guard)
}

fn no_session() -> OpError {
    OpError::Usage("not connected".into())
}

impl Runner {
    pub fn new(
        tx: mpsc::UnboundedSender<Msg>,
        connectors: Vec<Connector>,
        journal_paths: (PathBuf, PathBuf),
    ) -> Runner {
        Runner {
            tx,
            connectors: Rc::new(connectors),
            journal_paths,
            session: Rc::new(Mutex::new(None)),
            journal: Rc::new(Mutex::new(None)),
            plans: Rc::new(RefCell::new(HashMap::new())),
            next_token: Rc::new(RefCell::new(1)),
            tasks: HashMap::new(),
        }
    }

    /// Starts one effect. Must be called inside a `tokio::task::LocalSet`.
    pub fn run(&mut self, effect: Effect) {
        self.tasks.retain(|_, h| !h.is_finished());
        match effect {
            Effect::Connect {
                req,
                profile,
                password,
            } => {
                let tx = self.tx.clone();
                let slot = self.session.clone();
                let connectors = self.connectors.clone();
                let h = tokio::task::spawn_local(async move {
                    let msg = match connect(&profile, password, &connectors).await {
                        Ok(session) => {
                            let info = conn_info(&session);
                            let old = slot.lock().await.replace(session);
                            if let Some(old) = old {
                                let _ = old.close().await;
                            }
                            Msg::Connected { req, info }
                        }
                        Err(e) => Msg::Failed {
                            req,
                            error: plain(&e),
                        },
                    };
                    let _ = tx.send(msg);
                });
                self.tasks.insert(req, h);
            }
            Effect::Disconnect => {
                let slot = self.session.clone();
                tokio::task::spawn_local(async move {
                    if let Some(s) = slot.lock().await.take() {
                        let _ = s.close().await;
                    }
                });
            }
            Effect::Cancel { req } => {
                // Connecting holds no session yet: abort it. Reads on an open
                // session are left to finish (aborting mid-statement could leave
                // the connection unusable); their results are dropped as stale.
                if let Some(h) = self.tasks.remove(&req)
                    && !h.is_finished()
                {
                    h.abort();
                }
            }
            Effect::Lookup {
                req,
                query,
                filters,
                offset,
                limit,
            } => {
                let tx = self.tx.clone();
                let slot = self.session.clone();
                tokio::task::spawn_local(async move {
                    let mut guard = slot.lock().await;
                    let msg = match guard.as_mut() {
                        None => Msg::Failed {
                            req,
                            error: plain(&no_session()),
                        },
                        Some(s) => {
                            let f = LookupFilter {
                                query: Some(query).filter(|q| !q.is_empty()),
                                admins: filters.admins,
                                locked: filters.locked,
                                disabled: filters.disabled,
                                limit,
                                offset,
                            };
                            match account::lookup(s, &f).await {
                                Ok(page) => Msg::Page {
                                    req,
                                    rows: page.accounts.iter().map(|a| row(s, a)).collect(),
                                    more: page.more,
                                    notes: page.notes,
                                },
                                Err(e) => Msg::Failed {
                                    req,
                                    error: plain(&e),
                                },
                            }
                        }
                    };
                    let _ = tx.send(msg);
                });
            }
            Effect::Show { req, reference } => {
                let tx = self.tx.clone();
                let slot = self.session.clone();
                tokio::task::spawn_local(async move {
                    let mut guard = slot.lock().await;
                    let msg = match guard.as_mut() {
                        None => Err(no_session()),
                        Some(s) => account::resolve(s, &reference)
                            .await
                            .map(|a| detail(s, &a, &reference)),
                    };
                    let _ = tx.send(match msg {
                        Ok(detail) => Msg::Shown { req, detail },
                        Err(e) => Msg::Failed {
                            req,
                            error: plain(&e),
                        },
                    });
                });
            }
            Effect::Plan {
                req,
                action,
                reference,
            } => {
                let what = match action {
                    ops::Action::RestoreAdmin => Planned::Restore {
                        account: Some(reference),
                        prefer_declared: false,
                    },
                    other => Planned::Write(other, reference),
                };
                self.plan(req, what);
            }
            Effect::PlanRestore { req, account } => {
                self.plan(
                    req,
                    Planned::Restore {
                        account,
                        prefer_declared: true,
                    },
                );
            }
            Effect::PlanTransplant {
                req,
                reference,
                donor,
            } => {
                self.plan(req, Planned::Transplant { reference, donor });
            }
            Effect::DropPlan { token } => {
                self.plans.borrow_mut().remove(&token);
            }
            Effect::Apply { req, token, reason } => {
                let tx = self.tx.clone();
                let slot = self.session.clone();
                let jslot = self.journal.clone();
                let paths = self.journal_paths.clone();
                let plan = self.plans.borrow_mut().remove(&token);
                tokio::task::spawn_local(async move {
                    let result = async {
                        let plan = plan.ok_or_else(|| {
                            OpError::Refused("this plan is no longer available; plan again".into())
                        })?;
                        let mut guard = slot.lock().await;
                        let s = guard.as_mut().ok_or_else(no_session)?;
                        let mut jguard = journal(&jslot, &paths).await?;
                        let j = jguard.as_mut().ok_or_else(no_session)?;
                        // THE write path: the same protocol as `locksmith reset/unlock/restore-admin`
                        // (restore-admin is journaled as a break-glass entry there).
                        let applied = ops::apply(s, j, &plan, &reason).await?;
                        Ok::<_, OpError>(ResultInfo {
                            action: plan.action,
                            account: applied.account,
                            intent_entry: applied.intent_entry,
                            outcome_entry: applied.outcome_entry,
                            password: plan.new_password.clone(),
                            copied: false,
                            donor: plan.donor.as_ref().map(|d| d.account.label()),
                        })
                    }
                    .await;
                    let _ = tx.send(match result {
                        Ok(result) => Msg::Applied { req, result },
                        Err(e) => Msg::Failed {
                            req,
                            error: plain(&e),
                        },
                    });
                });
            }
            Effect::Calibrate {
                req,
                reference,
                known,
            } => {
                let tx = self.tx.clone();
                let slot = self.session.clone();
                let jslot = self.journal.clone();
                let paths = self.journal_paths.clone();
                tokio::task::spawn_local(async move {
                    let result = async {
                        let mut guard = slot.lock().await;
                        let s = guard.as_mut().ok_or_else(no_session)?;
                        let mut jguard = journal(&jslot, &paths).await.ok();
                        let j = jguard.as_mut().and_then(|g| g.as_mut());
                        protocol::calibrate(s, j, &reference, &known).await
                    }
                    .await;
                    let _ = tx.send(match result {
                        Ok(c) => Msg::Calibrated {
                            req,
                            account: c.account,
                            scheme: c.scheme,
                            matches: c.matches,
                        },
                        Err(e) => Msg::Failed {
                            req,
                            error: plain(&e),
                        },
                    });
                });
            }
            Effect::LoadJournal { req } => {
                let tx = self.tx.clone();
                let jslot = self.journal.clone();
                let paths = self.journal_paths.clone();
                tokio::task::spawn_local(async move {
                    let result = async {
                        let mut guard = journal(&jslot, &paths).await?;
                        let j = guard.as_mut().ok_or_else(no_session)?;
                        let entries = j.list(Some(200)).map_err(OpError::Journal)?;
                        let report = j.verify().map_err(OpError::Journal)?;
                        let name = |v: serde_json::Result<serde_json::Value>| {
                            v.ok()
                                .and_then(|v| v.as_str().map(String::from))
                                .unwrap_or_default()
                        };
                        let rows = entries
                            .iter()
                            .rev()
                            .map(|e| JournalRow {
                                id: e.id,
                                at: e.at.chars().take(19).collect::<String>().replace('T', " "),
                                kind: name(serde_json::to_value(e.entry.kind)),
                                action: e.entry.action.clone(),
                                account: e.entry.account.clone().unwrap_or_default(),
                                outcome: e
                                    .entry
                                    .outcome
                                    .as_ref()
                                    .map(|o| name(serde_json::to_value(o)))
                                    .unwrap_or_default(),
                            })
                            .collect();
                        let chain = match report.problem {
                            None => Chain::Intact {
                                entries: report.entries,
                            },
                            Some(p) => Chain::Broken {
                                entry: p.entry_id,
                                message: p.message,
                            },
                        };
                        Ok::<_, OpError>(JournalView {
                            path: j.path().display().to_string(),
                            entries: rows,
                            chain,
                        })
                    }
                    .await;
                    let _ = tx.send(match result {
                        Ok(view) => Msg::JournalLoaded { req, view },
                        Err(e) => Msg::Failed {
                            req,
                            error: plain(&e),
                        },
                    });
                });
            }
            Effect::Drill { req, account } => {
                let tx = self.tx.clone();
                let slot = self.session.clone();
                let jslot = self.journal.clone();
                let paths = self.journal_paths.clone();
                tokio::task::spawn_local(async move {
                    let result = async {
                        let mut guard = slot.lock().await;
                        let s = guard.as_mut().ok_or_else(no_session)?;
                        let mut jguard = journal(&jslot, &paths).await?;
                        let j = jguard.as_mut().ok_or_else(no_session)?;
                        let who = if s.connector.emergency.declared() {
                            None
                        } else {
                            account
                        };
                        let steps = tx.clone();
                        let mut progress = |t: &protocol::StepTime| {
                            let _ = steps.send(Msg::DrillStep {
                                req,
                                step: DrillStep {
                                    step: t.step.clone(),
                                    millis: t.millis,
                                },
                            });
                        };
                        let mut timer = drill::Timer::new(&mut progress);
                        // The same operation as `locksmith drill` (on the open session:
                        // there is no "connect" step), with its default dormancy.
                        let r = drill::run(s, j, who.as_deref(), false, &mut timer, 90).await?;
                        let path = drill_report_path(&paths.0, &r.started_at);
                        std::fs::write(&path, r.markdown()).map_err(|e| {
                            OpError::Usage(format!(
                                "the drill ran (journal entries {} and {}) but its report could not be written to {}: {e}",
                                r.journal_intent,
                                r.journal_outcome,
                                path.display()
                            ))
                        })?;
                        Ok::<_, OpError>(DrillDone {
                            account: r.account.clone(),
                            time_to_recover_ms: r.time_to_recover_ms,
                            total_ms: r.total_ms,
                            rolled_back: r.rolled_back,
                            intent_entry: r.journal_intent,
                            outcome_entry: r.journal_outcome,
                            chain_ok: r.chain.ok,
                            posture_ok: r.posture.ok,
                            report: path.display().to_string(),
                        })
                    }
                    .await;
                    let _ = tx.send(match result {
                        Ok(done) => Msg::DrillDone { req, done },
                        Err(e) => Msg::Failed {
                            req,
                            error: plain(&e),
                        },
                    });
                });
            }
            Effect::Copy(_) => {
                // Handled by the terminal loop, which owns the terminal.
            }
        }
    }
}

/// `drill-<UTC time>.md` next to the journal.
fn drill_report_path(journal: &std::path::Path, started_at: &str) -> PathBuf {
    let stamp: String = started_at
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    journal.with_file_name(format!("drill-{stamp}.md"))
}

/// What a plan effect asks for.
enum Planned {
    /// reset / unlock of one account.
    Write(ops::Action, String),
    /// reset of `reference` by copying `donor`'s stored password value
    /// (`locksmith reset REFERENCE --from DONOR`): no new password.
    Transplant { reference: String, donor: String },
    /// restore-admin: the connector's emergency admin (when `prefer_declared`
    /// and it declares one), else `account`.
    Restore {
        account: Option<String>,
        prefer_declared: bool,
    },
}

impl Runner {
    /// Reconciles the journal and builds the plan through the same operations
    /// as the CLI (`plan::build`, `emergency::locate` + `plan_restore`); the
    /// plan (with its new password) stays here, the screen gets its view.
    fn plan(&self, req: u64, what: Planned) {
        let tx = self.tx.clone();
        let slot = self.session.clone();
        let jslot = self.journal.clone();
        let paths = self.journal_paths.clone();
        let plans = self.plans.clone();
        let next = self.next_token.clone();
        // Not kept in `tasks`: like other reads on an open session it is left
        // to finish when cancelled, and its plan is then dropped as stale.
        tokio::task::spawn_local(async move {
            let result = async {
                let mut guard = slot.lock().await;
                let s = guard.as_mut().ok_or_else(no_session)?;
                let mut jguard = journal(&jslot, &paths).await?;
                let j = jguard.as_mut().ok_or_else(no_session)?;
                // As the CLI's prepare_write: settle intents left without an outcome first.
                let mut notes = Vec::new();
                for r in protocol::reconcile(s, j).await? {
                    notes.push(r.note());
                }
                let generate =
                    || Password::generate(20).map_err(|e| OpError::Refused(e.to_string()));
                let (plan, problems) = match what {
                    Planned::Write(action, reference) => {
                        let password = match action {
                            ops::Action::Unlock => None,
                            _ => Some(generate()?),
                        };
                        let plan =
                            plan::build(s, &reference, action, password, &PlanOptions::default())
                                .await?;
                        (plan, Vec::new())
                    }
                    Planned::Transplant { reference, donor } => {
                        // The same operation as the CLI's `reset --from`: it resolves the
                        // donor and refuses (before any journal entry) what cannot work.
                        let opts = PlanOptions {
                            donor: Some(donor),
                            ..PlanOptions::default()
                        };
                        let plan =
                            plan::build(s, &reference, ops::Action::Reset, None, &opts).await?;
                        (plan, Vec::new())
                    }
                    Planned::Restore {
                        account,
                        prefer_declared,
                    } => {
                        let who = if prefer_declared && s.connector.emergency.declared() {
                            None
                        } else {
                            account
                        };
                        let diag = emergency::locate(s, who.as_deref()).await?;
                        let plan = emergency::plan_restore(s, &diag, generate()?).await?;
                        (plan, diag.problems)
                    }
                };
                let view = plan.view(&|d: &str, b: &[u8]| j.fingerprint(d, b));
                let token = {
                    let mut n = next.borrow_mut();
                    *n += 1;
                    *n
                };
                let info = PlanInfo {
                    token,
                    view,
                    login: plan.account.login.clone(),
                    notes,
                    nothing_to_do: plan.nothing_to_do(),
                    scroll: 0,
                    problems,
                    donor: plan.donor.as_ref().map(|d| d.account.label()),
                };
                plans.borrow_mut().insert(token, plan);
                Ok::<_, OpError>(info)
            }
            .await;
            let _ = tx.send(match result {
                Ok(plan) => Msg::Planned { req, plan },
                Err(e) => Msg::Failed {
                    req,
                    error: plain(&e),
                },
            });
        });
    }
}

async fn connect(
    profile: &super::state::Profile,
    password: Option<Zeroizing<String>>,
    connectors: &[Connector],
) -> Result<Session, OpError> {
    let mut target = Target::parse(&profile.target).map_err(|e| OpError::Usage(e.to_string()))?;
    if target.password.is_some() && profile.name.is_empty() {
        // Typed into the URL field: refuse rather than keep it in history-like places.
        return Err(OpError::Usage(
            "put the password in the password field, not in the URL".into(),
        ));
    }
    match password {
        Some(pw) => {
            target.password = Some(DbPassword(pw));
            target.password_source = Some("the connection form".into());
        }
        None => target.resolve_password(),
    }
    let mut all = connectors.to_vec();
    if let Some(prefix) = &profile.prefix {
        all = all
            .into_iter()
            .map(|c| c.with_prefix(prefix))
            .collect::<Result<_, _>>()?;
    }
    let mut s = Session::open(&target, profile.connector.as_deref(), &all).await?;
    if let Some(command) = &profile.encoder {
        let spec = crate::schemes::external::EncoderSpec {
            command: command.clone(),
            bound_to_login: false,
        };
        s.set_encoder(spec, &format!("profile `{}`", profile.name))?;
    }
    Ok(s)
}

fn conn_info(s: &Session) -> ConnInfo {
    ConnInfo {
        target: s.target.clone(),
        connector: s.connector.name.clone(),
        title: s.connector.title.clone(),
        scheme: s.scheme.id(),
        can_hash: s.scheme.id() != "opaque",
        notes: s.connector.notes.clone(),
        warnings: s.warnings.clone(),
    }
}

fn row(s: &Session, a: &ops::Account) -> AccountRow {
    AccountRow {
        id: a.id_text(),
        login: a.login.clone(),
        name: a.text("display").unwrap_or_default(),
        email: a.text("email").unwrap_or_default(),
        phone: a.text("phone").unwrap_or_default(),
        admin: a.is_admin,
        state: a.state(&s.connector),
        shape_ok: a.shape_ok(s),
    }
}

fn detail(s: &Session, a: &ops::Account, reference: &str) -> Detail {
    let stored = a.stored_password();
    Detail {
        reference: reference.to_string(),
        label: a.label(),
        login: a.login.clone(),
        fields: a
            .fields
            .iter()
            .map(|(role, col, v)| {
                // Stored hash and salt are secrets: their length only, as `locksmith show`.
                let shown = match *role {
                    "password" | "salt" => match v.as_text() {
                        None => "NULL".to_string(),
                        Some(t) => format!("<{} characters>", t.chars().count()),
                    },
                    _ => v.as_text().unwrap_or_else(|| "NULL".into()),
                };
                (role.to_string(), col.clone(), shown)
            })
            .collect(),
        admin: a.is_admin,
        state: a.state(&s.connector),
        scheme: s.scheme.id(),
        shape_ok: a.shape_ok(s),
        detected: schemes::detect(&stored)
            .into_iter()
            .map(|c| c.format)
            .collect(),
        notes: s.connector.notes.clone(),
    }
}
