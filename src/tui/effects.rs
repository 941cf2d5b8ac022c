//! The effect runner: turns the reducer's effects into background tasks that
//! call the same use cases as the CLI (`ops::connect`, `ops::write`
//! prepare/commit, the reads, `ops::drill`, `ops::audit`) and send their
//! results back as messages. One task shape (`Runner::spawn`) serves every
//! family: reads, writes, the journal and drills. It holds what must not live
//! in the UI state: the session, the journal and the prepared writes (which
//! carry the new password until they are applied or dropped).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::state::{
    AccountRow, Chain, ConnInfo, Detail, DrillDone, DrillStep, Effect, JournalRow, JournalView,
    Msg, PlanInfo, Profile, ResultInfo,
};
use crate::backend::DbPassword;
use crate::connector::Connector;
use crate::i18n::Lang;
use crate::journal::Journal;
use crate::ops::account::AccountSummary;
use crate::ops::account::PageCursor;
use crate::ops::connect::{self, ConnectSpec};
use crate::ops::write::{self, NewPassword, Prepared, ResetFlags, WriteRequest};
use crate::ops::{self, LookupFilter, OpError, Session, account, audit, drill, protocol};
use crate::secret::Password;

pub struct Runner {
    tx: mpsc::UnboundedSender<Msg>,
    connectors: Rc<Vec<Connector>>,
    handles: Handles,
    next_token: Rc<RefCell<u64>>,
    tasks: HashMap<u64, JoinHandle<()>>,
    /// The language errors are worded in.
    lang: Lang,
}

/// What a task reaches: the session, the journal (opened on first use) and
/// the prepared writes (which carry the new password until applied or dropped).
#[derive(Clone)]
struct Handles {
    session: Rc<Mutex<Option<Session>>>,
    journal: Rc<Mutex<Option<Journal>>>,
    journal_paths: Rc<(PathBuf, PathBuf)>,
    forward: Rc<super::JournalForward>,
    prepared: Rc<RefCell<HashMap<u64, Prepared>>>,
}

/// An error as the console shows it: the message and each cause once.
fn plain(e: &OpError, lang: Lang) -> String {
    let mut text = e.console_text(lang);
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(&format!(" (caused by: {cause})"));
        }
        source = s.source();
    }
    text
}

fn no_session() -> OpError {
    OpError::Usage("not connected".into())
}

impl Handles {
    /// Runs `work` on the open session.
    async fn with_session<R>(
        &self,
        work: impl AsyncFnOnce(&mut Session) -> Result<R, OpError>,
    ) -> Result<R, OpError> {
        let mut guard = self.session.lock().await;
        work(guard.as_mut().ok_or_else(no_session)?).await
    }

    /// Runs `work` on the journal, opened on first use; writes are refused
    /// without it, as in the CLI.
    async fn with_journal<R>(
        &self,
        work: impl AsyncFnOnce(&mut Journal) -> Result<R, OpError>,
    ) -> Result<R, OpError> {
        let mut guard = self.journal.lock().await;
        if guard.is_none() {
            *guard = Some(connect::open_journal_forwarding(
                &self.journal_paths,
                self.forward.url.as_deref(),
                self.forward.config.as_deref(),
            )?);
        }
        work(guard.as_mut().ok_or_else(no_session)?).await
    }

    /// Runs `work` on the session and the journal (locked in that order).
    async fn with_both<R>(
        &self,
        work: impl AsyncFnOnce(&mut Session, &mut Journal) -> Result<R, OpError>,
    ) -> Result<R, OpError> {
        self.with_session(async |s: &mut Session| {
            self.with_journal(async |j: &mut Journal| work(s, j).await)
                .await
        })
        .await
    }
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
            handles: Handles {
                session: Rc::new(Mutex::new(None)),
                journal: Rc::new(Mutex::new(None)),
                journal_paths: Rc::new(journal_paths),
                forward: Rc::new(super::JournalForward::default()),
                prepared: Rc::new(RefCell::new(HashMap::new())),
            },
            next_token: Rc::new(RefCell::new(1)),
            tasks: HashMap::new(),
            lang: Lang::En,
        }
    }

    /// Errors in `lang` (English without it).
    pub fn with_lang(mut self, lang: Lang) -> Runner {
        self.lang = lang;
        self
    }

    /// Forwards the journal as `--forward` / `--config` say.
    pub fn with_forward(mut self, forward: super::JournalForward) -> Runner {
        self.handles.forward = Rc::new(forward);
        self
    }

    /// The one task shape: run `work` with the handles, send `ok(result)` or
    /// `Msg::Failed` for request `req`.
    fn spawn<T: 'static>(
        &self,
        req: u64,
        work: impl AsyncFnOnce(Handles) -> Result<T, OpError> + 'static,
        ok: impl FnOnce(T) -> Msg + 'static,
    ) -> JoinHandle<()> {
        let tx = self.tx.clone();
        let handles = self.handles.clone();
        let lang = self.lang;
        tokio::task::spawn_local(async move {
            let msg = match work(handles).await {
                Ok(value) => ok(value),
                Err(e) => Msg::Failed {
                    req,
                    error: plain(&e, lang),
                },
            };
            let _ = tx.send(msg);
        })
    }

    /// Starts one effect. Must be called inside a `tokio::task::LocalSet`.
    pub fn run(&mut self, effect: Effect) {
        self.tasks.retain(|_, h| !h.is_finished());
        match effect {
            Effect::Connect {
                req,
                profile,
                password,
            } => self.connect(req, profile, password),
            Effect::Disconnect => {
                let slot = self.handles.session.clone();
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
                after,
                limit,
            } => self.read(req, Read::Lookup(query, filters, after, limit)),
            Effect::Show { req, reference } => self.read(req, Read::Show(reference)),
            Effect::Calibrate {
                req,
                reference,
                known,
            } => self.read(req, Read::Calibrate(reference, known)),
            Effect::Plan { .. }
            | Effect::PlanRestore { .. }
            | Effect::PlanTransplant { .. }
            | Effect::PlanFromBackup { .. } => self.plan(effect),
            Effect::DropPlan { token } => {
                self.handles.prepared.borrow_mut().remove(&token);
            }
            Effect::Apply { req, token, reason } => self.commit(req, token, reason),
            Effect::LoadJournal { req } => {
                self.spawn(
                    req,
                    async |h: Handles| h.with_journal(journal_view).await,
                    move |view| Msg::JournalLoaded { req, view },
                );
            }
            Effect::Drill { req, account } => self.drill(req, account),
            Effect::Copy(_) => {
                // Handled by the terminal loop, which owns the terminal.
            }
        }
    }

    /// The plan effects: each asks `prepare` for one `WriteRequest`.
    fn plan(&self, effect: Effect) {
        match effect {
            Effect::Plan {
                req,
                action,
                reference,
                unlock,
            } => self.prepare(req, move |_| match action {
                ops::Action::RestoreAdmin => WriteRequest::RestoreAdmin {
                    account: Some(reference),
                    clear_2fa: false,
                },
                ops::Action::Unlock | ops::Action::Enable => {
                    WriteRequest::Unlock { account: reference }
                }
                ops::Action::Disable => WriteRequest::Disable { account: reference },
                ops::Action::Reset => WriteRequest::Reset {
                    account: reference,
                    password: NewPassword::Generate,
                    flags: ResetFlags {
                        unlock,
                        ..ResetFlags::default()
                    },
                },
            }),
            Effect::PlanRestore { req, account } => {
                self.prepare(req, move |s| WriteRequest::RestoreAdmin {
                    account: write::emergency_account(s, account, true),
                    clear_2fa: false,
                })
            }
            // The same request as the CLI's `reset --from`: it resolves the donor
            // and refuses (before any journal entry) what cannot work.
            Effect::PlanTransplant {
                req,
                reference,
                donor,
                unlock,
            } => self.prepare(req, move |_| WriteRequest::Transplant {
                account: reference,
                donor,
                flags: ResetFlags {
                    unlock,
                    ..ResetFlags::default()
                },
            }),
            Effect::PlanFromBackup {
                req,
                reference,
                source,
                unlock,
            } => self.prepare(req, move |_| WriteRequest::FromBackup {
                account: reference,
                source,
                flags: ResetFlags {
                    unlock,
                    ..ResetFlags::default()
                },
            }),
            _ => {}
        }
    }

    fn connect(&mut self, req: u64, profile: Profile, password: Option<Zeroizing<String>>) {
        let connectors = self.connectors.clone();
        let h = self.spawn(
            req,
            async move |h: Handles| {
                let spec = connect_spec(&profile, password)?;
                let session = connect::open_session(&spec, &connectors).await?;
                let info = conn_info(&session);
                if let Some(old) = h.session.lock().await.replace(session) {
                    let _ = old.close().await;
                }
                Ok(info)
            },
            move |info| Msg::Connected { req, info },
        );
        self.tasks.insert(req, h);
    }

    /// Reads on the open session: lookup, show, calibrate.
    fn read(&self, req: u64, what: Read) {
        let tx = self.tx.clone();
        self.spawn(
            req,
            async move |h: Handles| match what {
                Read::Lookup(query, filters, after, limit) => {
                    let f = LookupFilter {
                        query: Some(query).filter(|q| !q.is_empty()),
                        admins: filters.admins,
                        locked: filters.locked,
                        disabled: filters.disabled,
                        limit,
                        after,
                        starts_with: false,
                    };
                    h.with_session(async |s: &mut Session| {
                        // The indexed matches show while the scan still runs.
                        let head = |s: &Session, page: &account::LookupPage| {
                            let rows = page
                                .accounts
                                .iter()
                                .zip(&page.tiers)
                                .map(|(a, tier)| row(s, a, *tier))
                                .collect();
                            let _ = tx.send(Msg::PageHead { req, rows });
                        };
                        let page = account::lookup_progressive(s, &f, head).await?;
                        Ok(Msg::Page {
                            req,
                            rows: page
                                .accounts
                                .iter()
                                .zip(&page.tiers)
                                .map(|(a, tier)| row(s, a, *tier))
                                .collect(),
                            more: page.more(),
                            notes: page.notes,
                        })
                    })
                    .await
                }
                Read::Show(reference) => {
                    h.with_session(async |s: &mut Session| {
                        let a = account::resolve(s, &reference).await?;
                        let detail = detail(&AccountSummary::of(s, &a), &reference);
                        Ok(Msg::Shown { req, detail })
                    })
                    .await
                }
                Read::Calibrate(reference, known) => {
                    // A calibration without a journal still answers; it is just not journaled.
                    let opened = h.with_journal(async |_: &mut Journal| Ok(())).await.is_ok();
                    let mut jguard = h.journal.lock().await;
                    let j = jguard.as_mut().filter(|_| opened);
                    let c = h
                        .with_session(async |s: &mut Session| {
                            protocol::calibrate(s, j, &reference, &known).await
                        })
                        .await?;
                    Ok(Msg::Calibrated {
                        req,
                        account: c.account,
                        scheme: c.scheme,
                        matches: c.matches,
                    })
                }
            },
            |msg| msg,
        );
    }

    /// Plans a write through `ops::write::prepare`, as the CLI does: every
    /// refusal known before confirmation comes back as `Msg::Failed` here.
    /// The prepared write (with its new password) stays in the runner; the
    /// screen gets its view and a token.
    fn prepare(&self, req: u64, request: impl FnOnce(&Session) -> WriteRequest + 'static) {
        let next = self.next_token.clone();
        // Not kept in `tasks`: like other reads on an open session it is left
        // to finish when cancelled, and its plan is then dropped as stale.
        self.spawn(
            req,
            async move |h: Handles| {
                let prepared = h
                    .with_both(async |s: &mut Session, j: &mut Journal| {
                        write::prepare(s, Some(j), request(s), false).await
                    })
                    .await?;
                let token = {
                    let mut n = next.borrow_mut();
                    *n += 1;
                    *n
                };
                let info = PlanInfo {
                    token,
                    view: prepared.view.clone(),
                    login: prepared.login().to_string(),
                    notes: prepared.notes.clone(),
                    nothing_to_do: prepared.nothing_to_do(),
                    problems: prepared.problems().to_vec(),
                    donor: prepared.donor_label(),
                    locked: prepared.account_blocked(),
                    unlocks: prepared.unlocks,
                };
                h.prepared.borrow_mut().insert(token, prepared);
                Ok(info)
            },
            move |plan| Msg::Planned { req, plan },
        );
    }

    /// THE write path: the same `ops::write::commit` as `locksmith reset /
    /// unlock / restore-admin` (restore-admin is journaled as break glass there).
    fn commit(&self, req: u64, token: u64, reason: String) {
        let prepared = self.handles.prepared.borrow_mut().remove(&token);
        self.spawn(
            req,
            async move |h: Handles| {
                let p = prepared.ok_or_else(|| {
                    OpError::Refused("this plan is no longer available; plan again".into())
                })?;
                let applied = h
                    .with_both(async |s: &mut Session, j: &mut Journal| {
                        write::commit(s, j, &p, &reason).await
                    })
                    .await?;
                Ok(ResultInfo {
                    action: p.plan.action,
                    account: applied.account,
                    intent_entry: applied.intent_entry,
                    outcome_entry: applied.outcome_entry,
                    password: p.shown_password().cloned(),
                    copied: false,
                    donor: p.donor_label(),
                })
            },
            move |result| Msg::Applied { req, result },
        );
    }

    /// The same operation as `locksmith drill` on the open session (there is
    /// no "connect" step), with its default dormancy; the report is written
    /// next to the journal.
    fn drill(&self, req: u64, account: Option<String>) {
        let tx = self.tx.clone();
        let lang = self.lang;
        self.spawn(
            req,
            async move |h: Handles| {
                let paths = h.journal_paths.clone();
                h.with_both(async |s: &mut Session, j: &mut Journal| {
                    let who = write::emergency_account(s, account, true);
                    let mut progress = |t: &protocol::StepTime| {
                        let step = DrillStep {
                            // A statement's purpose in the operator's language; other steps are catalog words.
                            step: t
                                .said
                                .as_ref()
                                .map_or_else(|| t.step.clone(), |said| said.console_text(lang)),
                            millis: t.millis,
                        };
                        let _ = tx.send(Msg::DrillStep { req, step });
                    };
                    let mut timer = drill::Timer::new(&mut progress);
                    let r = drill::run(s, j, who.as_deref(), false, &mut timer, 90).await?;
                    let path = drill::report_path(&paths.0, &r.started_at);
                    drill::save_report(&r, &path, &r.markdown())?;
                    Ok(DrillDone {
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
                })
                .await
            },
            move |done| Msg::DrillDone { req, done },
        );
    }
}

/// The reads the console makes on an open session.
enum Read {
    Lookup(String, super::state::Filters, Option<PageCursor>, u64),
    Show(String),
    Calibrate(String, Password),
}

/// The newest 200 entries, newest first, and whether the chain holds.
async fn journal_view(j: &mut Journal) -> Result<JournalView, OpError> {
    let entries = j.list(Some(200)).map_err(OpError::Journal)?;
    let report = j.verify().map_err(OpError::Journal)?;
    let rows = entries
        .iter()
        .rev()
        .map(|e| JournalRow {
            id: e.id,
            at: e.at.chars().take(19).collect::<String>().replace('T', " "),
            kind: audit::kind_name(e),
            action: e.entry.action.clone(),
            account: e.entry.account.clone().unwrap_or_default(),
            outcome: audit::outcome_name(e),
            reason: e.entry.reason.clone().unwrap_or_default(),
            refers_to: e.entry.refers_to,
            // Details hold fingerprints and SQL text, never a secret (the journal's rule).
            details: serde_json::to_string_pretty(&e.entry.details)
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect(),
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
    Ok(JournalView {
        path: j.path().display().to_string(),
        entries: rows,
        chain,
    })
}

/// How a profile (or the new-connection form) connects: its target, connector,
/// prefix and encoder; the form's password, else the environment's.
fn connect_spec(
    profile: &Profile,
    password: Option<Zeroizing<String>>,
) -> Result<ConnectSpec, OpError> {
    let mut spec = ConnectSpec::from_url(&profile.target)?;
    let from_url = spec.target.password_source.as_deref() == Some("the target URL");
    if from_url && profile.name.is_empty() {
        // Typed into the URL field: refuse rather than keep it in history-like places.
        return Err(OpError::Usage(
            "put the password in the password field, not in the URL".into(),
        ));
    }
    if let Some(pw) = password {
        spec.target.password = Some(DbPassword(pw));
        spec.target.password_source = Some("the connection form".into());
    }
    // ssh (a profile's `ssh =`) may ask on the terminal: the console steps aside.
    spec.around_ssh = Some(super::step_aside_for_ssh as fn(bool));
    spec.connector = profile.connector.clone();
    spec.prefix = profile.prefix.clone();
    if let Some(command) = &profile.encoder {
        let origin = format!("profile `{}`", profile.name);
        spec.encoder = Some((connect::encoder_spec(command.clone(), &origin)?, origin));
    }
    Ok(spec)
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
        read_only: s.read_only,
    }
}

fn row(s: &Session, a: &ops::Account, tier: i64) -> AccountRow {
    AccountRow {
        cursor: PageCursor {
            tier,
            id: a.id.clone(),
        },
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

fn detail(a: &AccountSummary, reference: &str) -> Detail {
    Detail {
        reference: reference.to_string(),
        label: a.label.clone(),
        login: a.login.clone(),
        fields: a.fields.clone(),
        admin: a.admin,
        state: a.state.clone(),
        scheme: a.scheme.clone(),
        shape_ok: a.scheme_shape,
        detected: a.detected.clone(),
        notes: a.notes.clone(),
        notes_zh: a.notes_zh.clone(),
    }
}
