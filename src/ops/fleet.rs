//! `fleet check|status|drill`: one use case over many targets. The
//! inventory is the profiles file (`crate::profiles`); every selected
//! profile runs the same per-target use case as the single command
//! (`posture::check_with`, `audit::status` for its place, `drill::run`),
//! at most `parallel` at a time. Each target runs on its own thread with its
//! own runtime and its own timeout, so a dead, slow or CPU-bound target
//! never holds up the others; one that overruns is reported as `timeout`
//! (its connection is dropped, which rolls back an unfinished drill).
//! Connecting is waiting, not work: up to `CONNECT_AHEAD × parallel`
//! targets are open at once (connecting, or connected and waiting), and
//! only a connected target takes one of the `parallel` work slots, so a dead
//! host waits out its timeout beside the work instead of in a slot (the
//! timeout counts connecting and working, not the wait for a slot). The
//! window bounds the threads, sessions and ssh tunnels alive at once.
//! The shells render the result; progress comes back through a callback.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::connect::{self, ConnectSpec};
use super::metrics::{self, Labels, PlaceStatus};
use super::posture::{self, Level, Posture};
use super::{OpError, Session, audit, drill};
use crate::backend::{DbPassword, Target};
use crate::connector::Connector;
use crate::i18n::{Lang, Said};
use crate::profiles::Inventory;

/// Targets open at once (connecting or waiting for a slot), per work slot.
const CONNECT_AHEAD: usize = 4;

/// Exit code of a target that did not finish within `--timeout`: like a
/// target that cannot be reached (README "Exit codes").
pub const EXIT_TIMEOUT: i32 = 3;
/// Exit code of a target whose check failed (README "Exit codes").
const EXIT_FAILED: i32 = 8;

/// Which per-target use case the fleet runs.
#[derive(Debug, Clone)]
pub enum FleetCommand {
    Check {
        dormant_days: i64,
        all_accounts: bool,
    },
    Status {
        max_open_hours: u64,
    },
    Drill {
        dormant_days: i64,
        /// One report per target and the index go here.
        report_dir: PathBuf,
        /// md or json
        format: String,
    },
}

impl FleetCommand {
    pub fn name(&self) -> &'static str {
        match self {
            FleetCommand::Check { .. } => "check",
            FleetCommand::Status { .. } => "status",
            FleetCommand::Drill { .. } => "drill",
        }
    }
}

/// Everything a target's run needs besides its profile.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub command: FleetCommand,
    /// Targets at once (at least 1).
    pub parallel: usize,
    /// Each target's own limit, connection included.
    pub timeout: Duration,
    pub connectors: Vec<Connector>,
    /// The journal file and its key (status reads it, drill writes it).
    pub journal: (PathBuf, PathBuf),
    pub config: Option<PathBuf>,
    /// `--read-only`: every target's session is read-only (drills are refused).
    pub read_only: bool,
}

/// How a target's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Reached, and nothing failed.
    Ok,
    /// Reached, and a check failed (or a break-glass entry is overdue).
    Failed,
    /// Not reached or refused: connection, password, connector, drill refusal.
    Error,
    /// Did not finish within the timeout.
    Timeout,
}

/// A drill's files and journal entries.
#[derive(Debug, Clone, Serialize)]
pub struct DrillDone {
    pub report: PathBuf,
    pub journal_intent: i64,
    pub journal_outcome: i64,
    pub time_to_recover_ms: f64,
    pub rolled_back: bool,
}

/// One target's result.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRun {
    pub profile: String,
    pub site: Option<String>,
    pub tags: Vec<String>,
    /// host[:port]/database: never a user or password.
    pub target: String,
    pub connector: Option<String>,
    pub result: Outcome,
    /// What the single command would have exited with.
    pub exit_code: i32,
    /// The checks that failed (check), `break_glass_overdue` (status).
    pub failing: Vec<String>,
    pub seconds: f64,
    /// Why it did not run (English, as the journal and `--json` keep it).
    pub error: Option<String>,
    /// `error`, worded in both languages for the table.
    #[serde(skip)]
    pub error_said: Option<Said>,
    /// What the session warned about (TLS not verified, connector detected, …).
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posture: Option<Posture>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<PlaceStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillDone>,
}

impl TargetRun {
    /// The metric labels of this target.
    pub fn labels(&self) -> Labels {
        Labels {
            site: self.site.clone().unwrap_or_default(),
            target: self.target.clone(),
            connector: self.connector.clone().unwrap_or_default(),
            profile: Some(self.profile.clone()),
        }
    }
}

/// The whole run: one entry per target, in inventory order.
#[derive(Debug, Clone, Serialize)]
pub struct FleetRun {
    pub command: &'static str,
    pub targets: Vec<TargetRun>,
    /// The highest of the targets' exit codes (0 when all are ok).
    pub exit_code: i32,
    pub parallel: usize,
    pub timeout_seconds: f64,
    pub seconds: f64,
    /// `fleet drill`: the index of the reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<PathBuf>,
}

/// A target finished: for a progress line.
#[derive(Debug, Clone)]
pub struct FleetProgress {
    pub done: usize,
    pub total: usize,
    pub failing: usize,
}

/// The profiles carrying every tag in `tags` (all of them when `tags` is empty).
pub fn select(all: Vec<Inventory>, tags: &[String]) -> Result<Vec<Inventory>, OpError> {
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = all.iter().find(|p| !seen.insert(p.name.clone())) {
        return Err(OpError::Usage(Said::key(
            "said.fleet_duplicate_profile",
            &[("name", &dup.name)],
        )));
    }
    let chosen: Vec<Inventory> = all
        .into_iter()
        .filter(|p| tags.iter().all(|t| p.tags.contains(t)))
        .collect();
    if chosen.is_empty() {
        let tags = match tags.is_empty() {
            true => "-".to_string(),
            false => tags.join(", "),
        };
        return Err(OpError::Usage(Said::key(
            "said.fleet_no_targets",
            &[("tags", &tags)],
        )));
    }
    Ok(chosen)
}

/// Runs the command on every profile, `opts.parallel` at a time; `progress`
/// is called as each target finishes.
pub async fn run(
    profiles: Vec<Inventory>,
    opts: FleetOptions,
    progress: &(dyn Fn(&FleetProgress) + Sync),
) -> Result<FleetRun, OpError> {
    let started = Instant::now();
    if let FleetCommand::Drill { report_dir, .. } = &opts.command {
        std::fs::create_dir_all(report_dir).map_err(|e| {
            OpError::Usage(Said::key(
                "said.fleet_report_dir",
                &[("path", &report_dir.display()), ("reason", &e)],
            ))
        })?;
    }
    let total = profiles.len();
    let parallel = opts.parallel.max(1);
    let opts = Arc::new(opts);
    let gates = Gates {
        connect: Arc::new(tokio::sync::Semaphore::new(parallel * CONNECT_AHEAD)),
        work: Arc::new(tokio::sync::Semaphore::new(parallel)),
    };
    let mut tasks = tokio::task::JoinSet::new();
    let inventory = profiles.clone();
    for (index, profile) in profiles.into_iter().enumerate() {
        let (opts, gates) = (Arc::clone(&opts), gates.clone());
        tasks.spawn(async move {
            // The semaphores are never closed: acquiring only waits.
            let connecting = Arc::clone(&gates.connect).acquire_owned().await.ok();
            (
                index,
                run_in_thread(index, profile, opts, gates, connecting).await,
            )
        });
    }
    let mut done: Vec<(usize, TargetRun)> = Vec::with_capacity(total);
    let mut failing = 0;
    while let Some(joined) = tasks.join_next().await {
        // A task only fails by panicking; its target gets its row below.
        let Ok((index, r)) = joined else { continue };
        failing += usize::from(r.result != Outcome::Ok);
        done.push((index, r));
        progress(&FleetProgress {
            done: done.len(),
            total,
            failing,
        });
    }
    for (index, profile) in inventory.into_iter().enumerate() {
        if !done.iter().any(|(i, _)| *i == index) {
            let lost = OpError::Usage(Said::key("said.fleet_ended_abruptly", &[]));
            done.push((index, finish(profile, Some(Err(lost)), 0.0, opts.timeout)));
        }
    }
    done.sort_by_key(|(i, _)| *i);
    let targets: Vec<TargetRun> = done.into_iter().map(|(_, r)| r).collect();
    let index = match &opts.command {
        FleetCommand::Drill {
            report_dir, format, ..
        } => Some(write_index(&targets, report_dir, format)?),
        _ => None,
    };
    Ok(FleetRun {
        command: opts.command.name(),
        exit_code: targets.iter().map(|t| t.exit_code).max().unwrap_or(0),
        targets,
        parallel,
        timeout_seconds: opts.timeout.as_secs_f64(),
        seconds: started.elapsed().as_secs_f64(),
        index,
    })
}

/// What a reached target gave back.
struct Reached {
    connector: String,
    target: String,
    posture: Option<Posture>,
    status: Option<PlaceStatus>,
    drill: Option<DrillDone>,
    failing: Vec<String>,
    exit_code: i32,
    warnings: Vec<String>,
}

/// The two limits of a run: targets open, and targets worked on.
#[derive(Clone)]
struct Gates {
    /// Targets open at once; held for the whole run of a target.
    connect: Arc<tokio::sync::Semaphore>,
    /// Targets worked on at once (`--parallel`).
    work: Arc<tokio::sync::Semaphore>,
}

/// A target's run: `None` when it overran its timeout; with the seconds it
/// spent connecting and working (not waiting for a slot).
type Ran = (Option<Result<Reached, OpError>>, f64);

/// Runs one target on a thread of its own (its own current-thread runtime).
/// The answer is sent before the runtime is dropped, and the runtime is
/// shut down without waiting, so a stuck blocking call (a DNS lookup) never
/// delays the fleet.
async fn run_in_thread(
    index: usize,
    profile: Inventory,
    opts: Arc<FleetOptions>,
    gates: Gates,
    connecting: Option<tokio::sync::OwnedSemaphorePermit>,
) -> TargetRun {
    let (tx, rx) = tokio::sync::oneshot::channel::<Ran>();
    let timeout = opts.timeout;
    let p = profile.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("fleet-{index}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send((Some(Err(OpError::Usage(e.to_string().into()))), 0.0));
                    return;
                }
            };
            let out = rt.block_on(run_target(index, &p, &opts, &gates.work, connecting));
            let _ = tx.send(out);
            rt.shutdown_background();
        });
    let (out, seconds) = match spawned {
        Err(e) => (Some(Err(OpError::Usage(e.to_string().into()))), 0.0),
        Ok(_) => match rx.await {
            Ok(ran) => ran,
            // The thread died (a panic) without an answer.
            Err(_) => (
                Some(Err(OpError::Usage(Said::key(
                    "said.fleet_ended_abruptly",
                    &[],
                )))),
                0.0,
            ),
        },
    };
    finish(profile, out, seconds, timeout)
}

/// The target's row from what its run gave back (`None`: it timed out).
fn finish(
    profile: Inventory,
    out: Option<Result<Reached, OpError>>,
    seconds: f64,
    timeout: Duration,
) -> TargetRun {
    let fallback_target = Target::parse(&profile.target)
        .map(|t| metrics::target_label(&t))
        .unwrap_or_default();
    let mut run = TargetRun {
        site: profile.site,
        tags: profile.tags,
        target: fallback_target,
        connector: profile.connector,
        result: Outcome::Ok,
        exit_code: 0,
        failing: Vec::new(),
        seconds,
        error: None,
        warnings: Vec::new(),
        error_said: None,
        posture: None,
        status: None,
        drill: None,
        profile: profile.name,
    };
    match out {
        Some(Ok(r)) => {
            run.result = match r.failing.is_empty() && r.exit_code == 0 {
                true => Outcome::Ok,
                false => Outcome::Failed,
            };
            run.exit_code = r.exit_code;
            run.connector = Some(r.connector);
            run.target = r.target;
            run.failing = r.failing;
            run.posture = r.posture;
            run.status = r.status;
            run.drill = r.drill;
            run.warnings = r.warnings;
        }
        Some(Err(e)) => {
            run.result = Outcome::Error;
            run.exit_code = e.exit_code();
            run.error = Some(e.to_string());
            run.error_said = Some(Said::Pair {
                en: e.text(Lang::En),
                zh: e.text(Lang::Zh),
            });
        }
        None => {
            let secs = format!("{}", timeout.as_secs_f64());
            let said = Said::key("said.fleet_timeout", &[("seconds", &secs)]);
            run.result = Outcome::Timeout;
            run.exit_code = EXIT_TIMEOUT;
            run.error = Some(said.text(Lang::En));
            run.error_said = Some(said);
        }
    }
    run
}

/// How a profile connects: its URL and options, its password source, never
/// a prompt (nobody answers one in a fleet run).
fn spec_for(p: &Inventory, opts: &FleetOptions) -> Result<ConnectSpec, OpError> {
    let mut target = Target::parse(&p.target).map_err(|e| OpError::Usage(e.to_string().into()))?;
    match p.password.read().map_err(|e| OpError::Usage(e.said()))? {
        Some(pw) => {
            target.password = Some(DbPassword(pw));
            target.password_source = p.password.describe();
        }
        None => target.resolve_password(),
    }
    target.read_only |= opts.read_only;
    let encoder = match &p.encoder {
        Some(command) => {
            let origin = format!("profile `{}`", p.name);
            Some((connect::encoder_spec(command.clone(), &origin)?, origin))
        }
        None => None,
    };
    Ok(ConnectSpec {
        target,
        connector: p.connector.clone(),
        prefix: p.prefix.clone(),
        encoder,
        prompt_on_denied: false,
        config: opts.config.clone(),
        ssh_prompt: crate::backend::ssh_tunnel::SshPrompt::Batch,
        around_ssh: None,
    })
}

/// One target: connect (within the timeout), wait for a work slot, run the
/// command in what is left of the timeout, close.
async fn run_target(
    index: usize,
    p: &Inventory,
    opts: &FleetOptions,
    work: &tokio::sync::Semaphore,
    connecting: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Ran {
    let spec = match spec_for(p, opts) {
        Ok(spec) => spec,
        Err(e) => return (Some(Err(e)), 0.0),
    };
    let mut quiet = |_: &super::protocol::StepTime| {};
    let mut timer = drill::Timer::new(&mut quiet);
    let started = Instant::now();
    let opened =
        tokio::time::timeout(opts.timeout, connect::open_session(&spec, &opts.connectors)).await;
    let connect_secs = started.elapsed().as_secs_f64();
    let mut s = match opened {
        Err(_) => return (None, connect_secs),
        Ok(Err(e)) => return (Some(Err(e)), connect_secs),
        Ok(Ok(s)) => s,
    };
    timer.lap("connect");
    let _slot = work.acquire().await.ok();
    let working = Instant::now();
    let left = opts
        .timeout
        .saturating_sub(Duration::from_secs_f64(connect_secs));
    let out = tokio::time::timeout(left, work_on(&mut s, index, p, opts, &mut timer)).await;
    let seconds = connect_secs + working.elapsed().as_secs_f64();
    let out = match out {
        Err(_) => {
            // Dropping the session ends its connection (and an unfinished drill with it).
            drop(s);
            None
        }
        Ok(out) => {
            let closed = s.close().await;
            Some(out.and_then(|r| closed.map(|()| r)))
        }
    };
    drop(connecting);
    (out, seconds)
}

/// The command itself on a connected target.
async fn work_on(
    s: &mut Session,
    index: usize,
    p: &Inventory,
    opts: &FleetOptions,
    timer: &mut drill::Timer<'_>,
) -> Result<Reached, OpError> {
    match &opts.command {
        FleetCommand::Check {
            dormant_days,
            all_accounts,
        } => check(s, *dormant_days, *all_accounts).await,
        FleetCommand::Status { max_open_hours } => status(s, opts, *max_open_hours),
        FleetCommand::Drill {
            dormant_days,
            report_dir,
            format,
        } => {
            let to = TargetDrill {
                index,
                profile: &p.name,
                dormant_days: *dormant_days,
                report_dir,
                format,
            };
            run_drill(s, opts, &to, timer).await
        }
    }
}

fn reached(s: &Session) -> Reached {
    Reached {
        connector: s.connector.name.clone(),
        target: metrics::place_label(&s.place()),
        posture: None,
        status: None,
        drill: None,
        failing: Vec::new(),
        exit_code: 0,
        warnings: s.warnings.clone(),
    }
}

async fn check(s: &mut Session, dormant_days: i64, all_accounts: bool) -> Result<Reached, OpError> {
    let opts = posture::CheckOptions {
        dormant_days,
        all_accounts,
        progress: None,
    };
    let p = posture::check_with(s, &opts).await?;
    let mut r = reached(s);
    r.failing = p
        .findings
        .iter()
        .filter(|f| f.level == Level::Fail)
        .map(|f| f.check.to_string())
        .collect();
    r.exit_code = if p.ok { 0 } else { EXIT_FAILED };
    r.posture = Some(p);
    Ok(r)
}

/// `status` for this target's place: its open break-glass entries and its
/// last successful drill, from the journal.
fn status(s: &mut Session, opts: &FleetOptions, max_open_hours: u64) -> Result<Reached, OpError> {
    let mut j = connect::open_journal(&opts.journal)?;
    let now = chrono::Utc::now();
    let st = audit::status(&mut j, max_open_hours, now)?;
    let place = s.place();
    let ps = metrics::place_statuses(&mut j, &st, Some(&place), now)?
        .into_iter()
        .next()
        .map(|(_, ps)| ps)
        .unwrap_or_default();
    let mut r = reached(s);
    if ps.overdue > 0 {
        r.failing.push("break_glass_overdue".into());
        r.exit_code = EXIT_FAILED;
    }
    r.status = Some(ps);
    Ok(r)
}

struct TargetDrill<'a> {
    index: usize,
    profile: &'a str,
    dormant_days: i64,
    report_dir: &'a Path,
    format: &'a str,
}

/// The drill as `locksmith drill` runs it (journaled the same way), its
/// report saved as `NN-<profile>.md` in the fleet's report directory.
async fn run_drill(
    s: &mut Session,
    opts: &FleetOptions,
    to: &TargetDrill<'_>,
    timer: &mut drill::Timer<'_>,
) -> Result<Reached, OpError> {
    let mut j = connect::open_journal(&opts.journal)?;
    let report = drill::run(s, &mut j, None, false, timer, to.dormant_days).await?;
    let body = drill::render_report(&report, to.format)?;
    let path = to.report_dir.join(format!(
        "{:02}-{}.{}",
        to.index + 1,
        slug(to.profile),
        to.format
    ));
    drill::save_report(&report, &path, &body)?;
    let mut r = reached(s);
    r.drill = Some(DrillDone {
        report: path,
        journal_intent: report.journal_intent,
        journal_outcome: report.journal_outcome,
        time_to_recover_ms: report.time_to_recover_ms,
        rolled_back: report.rolled_back,
    });
    Ok(r)
}

/// A file-name-safe form of a profile name (letters, digits, `-`, `_`).
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c.to_ascii_lowercase(),
                false => '-',
            },
        )
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "target".into() } else { s }
}

/// `index.md` (or `index.json`) beside the reports: one line per target.
fn write_index(targets: &[TargetRun], dir: &Path, format: &str) -> Result<PathBuf, OpError> {
    let path = dir.join(format!("index.{format}"));
    let body = match format {
        "json" => serde_json::to_string_pretty(&serde_json::json!({ "targets": targets }))
            .unwrap_or_default(),
        _ => index_markdown(targets),
    };
    std::fs::write(&path, body).map_err(|e| {
        OpError::Usage(Said::key(
            "said.fleet_report_dir",
            &[("path", &path.display()), ("reason", &e)],
        ))
    })?;
    Ok(path)
}

fn index_markdown(targets: &[TargetRun]) -> String {
    let mut t = String::from(
        "# Locksmith fleet drill\n\n| profile | site | target | connector | result | time to recover (ms) | report |\n|---|---|---|---|---|---:|---|\n",
    );
    let cell = |s: &str| s.replace('|', "/");
    for r in targets {
        let (recover, report) = match &r.drill {
            Some(d) => (
                format!("{:.1}", d.time_to_recover_ms),
                d.report
                    .file_name()
                    .map(|n| format!("[{0}]({0})", n.to_string_lossy()))
                    .unwrap_or_default(),
            ),
            None => (String::new(), cell(r.error.as_deref().unwrap_or_default())),
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {:?} | {recover} | {report} |\n",
            cell(&r.profile),
            cell(r.site.as_deref().unwrap_or_default()),
            cell(&r.target),
            cell(r.connector.as_deref().unwrap_or_default()),
            r.result,
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, tags: &[&str]) -> Inventory {
        Inventory {
            name: name.into(),
            target: "mysql://ls@db/crm".into(),
            connector: None,
            prefix: None,
            encoder: None,
            site: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            password: crate::profiles::PasswordSource::Default,
        }
    }

    #[test]
    fn tags_narrow_the_selection_and_duplicates_are_refused() {
        let all = vec![
            profile("a", &["prod", "north"]),
            profile("b", &["prod"]),
            profile("c", &[]),
        ];
        let names = |v: Vec<Inventory>| v.into_iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(names(select(all.clone(), &[]).unwrap()), ["a", "b", "c"]);
        assert_eq!(
            names(select(all.clone(), &["prod".into()]).unwrap()),
            ["a", "b"]
        );
        let both = ["prod".to_string(), "north".to_string()];
        assert_eq!(names(select(all.clone(), &both).unwrap()), ["a"]);
        assert!(select(all, &["none".into()]).is_err());
        let dup = vec![profile("a", &[]), profile("a", &[])];
        assert!(select(dup, &[]).is_err());
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(slug("CRM Beijing #1"), "crm-beijing--1");
        assert_eq!(slug("北京"), "target");
    }
}
