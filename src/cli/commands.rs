//! One function per command: parse what is left of the arguments, call the
//! use case in `ops`, confirm where a write needs it, render.

use crate::i18n::Said;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Cli, ConnectorsCommand, OffboardArgs, Report, WriteArgs, batch, prompt, render};
use crate::journal::Journal;
use crate::ops::connect::{self, ConnectSpec};
use crate::ops::offboard::{self, MatchBy};
use crate::ops::write::{self, NewPassword, ResetFlags, WriteRequest};
use crate::ops::{
    LookupFilter, OpError, Session, account, check, drill, metrics, posture, protocol,
};

/// `--target` (or LOCKSMITH_TARGET), parsed, with its password resolved.
fn target(cli: &Cli) -> Result<crate::backend::Target, OpError> {
    let raw = cli
        .target
        .as_deref()
        .ok_or_else(|| OpError::Usage(Said::key("said.no_target", &[])))?;
    Ok(ConnectSpec::from_url(raw)?.target)
}

/// `--encoder PROGRAM` (or LOCKSMITH_ENCODER) with its `--encoder-arg`s.
fn operator_encoder(cli: &Cli) -> Result<Option<Vec<String>>, OpError> {
    match &cli.encoder {
        None if !cli.encoder_arg.is_empty() => Err(OpError::Usage(
            "--encoder-arg needs --encoder PROGRAM (or LOCKSMITH_ENCODER)".into(),
        )),
        None => Ok(None),
        Some(p) if p.trim().is_empty() => Ok(None),
        Some(p) => {
            let mut command = vec![p.clone()];
            command.extend(cli.encoder_arg.iter().cloned());
            Ok(Some(command))
        }
    }
}

/// How this command connects: to `target` with the global flags.
fn spec_for(cli: &Cli, mut target: crate::backend::Target) -> Result<ConnectSpec, OpError> {
    target.read_only |= cli.read_only;
    let encoder = match operator_encoder(cli)? {
        Some(command) => Some((
            connect::encoder_spec(command, "--encoder")?,
            "--encoder".into(),
        )),
        None => None,
    };
    Ok(ConnectSpec {
        target,
        connector: cli.connector.clone(),
        prefix: cli.prefix.clone(),
        encoder,
        prompt_on_denied: true,
        config: cli.config.clone(),
        ssh_prompt: crate::backend::ssh_tunnel::SshPrompt::detect(),
        around_ssh: None,
    })
}

pub(super) async fn session(cli: &Cli) -> Result<Session, OpError> {
    let spec = spec_for(cli, target(cli)?)?;
    connect::open_session(&spec, &all_connectors(cli)?).await
}

pub(super) fn journal_paths(cli: &Cli) -> Result<(PathBuf, PathBuf), OpError> {
    connect::journal_paths(cli.journal.as_deref())
}

/// The journal, forwarding to `--forward` when given (else as config.toml says).
pub(super) fn open_journal(cli: &Cli) -> Result<Journal, OpError> {
    connect::open_journal_forwarding(
        &journal_paths(cli)?,
        cli.forward.as_deref(),
        cli.config.as_deref(),
    )
}

/// A command that needs the session and nothing else; closes it after `f`.
async fn with_session<T>(
    cli: &Cli,
    f: impl AsyncFnOnce(&mut Session) -> Result<T, OpError>,
) -> Result<T, OpError> {
    let mut s = session(cli).await?;
    let out = f(&mut s).await;
    s.close().await?;
    out
}

/// The console: `locksmith` (profiles or --target) and `locksmith demo
/// [--keep DIR]` (`demo` is `Some(keep)`).
pub async fn console(cli: &Cli, demo: Option<Option<&Path>>) -> Result<Report, OpError> {
    use crate::tui::{self, ConsoleOptions, i18n::Lang, state::Profile};
    let lang = Lang::detect(cli.lang.as_deref());
    let usage = |e: &dyn std::fmt::Display| OpError::Usage(e.to_string().into());
    let demo_env = match demo {
        Some(keep) => Some(crate::demo::Demo::create(keep).map_err(|e| usage(&e))?),
        None => None,
    };
    let opts = match &demo_env {
        Some(d) => ConsoleOptions {
            lang,
            profiles: d.profiles(lang),
            start: None,
            connectors: crate::demo::connectors().map_err(|e| usage(&e))?,
            journal: d.journal(),
            forward: crate::tui::JournalForward::default(),
            demo: true,
        },
        None => {
            let start = match &cli.target {
                Some(raw) => {
                    // Parse now so a bad URL is a usage error before the terminal switches.
                    let t = crate::backend::Target::parse(raw).map_err(|e| usage(&e))?;
                    Some(Profile {
                        name: t.display(),
                        target: raw.clone(),
                        connector: cli.connector.clone(),
                        prefix: cli.prefix.clone(),
                        note: None,
                        encoder: operator_encoder(cli)?,
                    })
                }
                None => None,
            };
            ConsoleOptions {
                lang,
                profiles: tui::load_profiles(None).map_err(|e| usage(&e))?,
                start,
                connectors: connect::with_prefix(&all_connectors(cli)?, cli.prefix.as_deref())?,
                journal: journal_paths(cli)?,
                forward: crate::tui::JournalForward {
                    url: cli.forward.clone(),
                    config: cli.config.clone(),
                },
                demo: false,
            }
        }
    };
    let opts = read_only_console(opts, cli.read_only);
    tui::run(opts).await.map_err(|e| usage(&e))?;
    let text = demo_env
        .as_ref()
        .map(|d| d.farewell(lang))
        .unwrap_or_default();
    drop(demo_env);
    Ok(Report::ok(text, json!({})))
}

/// Shipped, the operator's, and `--connectors-dir` connectors.
pub(super) fn all_connectors(cli: &Cli) -> Result<Vec<crate::connector::Connector>, OpError> {
    connect::connectors_with(cli.connectors_dir.as_deref())
}

/// `--read-only` on the console: every profile (and --target) connects read-only.
fn read_only_console(
    mut opts: crate::tui::ConsoleOptions,
    read_only: bool,
) -> crate::tui::ConsoleOptions {
    if read_only {
        for p in opts.profiles.iter_mut().chain(opts.start.iter_mut()) {
            p.target = crate::backend::target::with_read_only(&p.target);
        }
    }
    opts
}

/// The language the operator reads: `--lang`, else the locale.
fn lang(cli: &Cli) -> crate::i18n::Lang {
    crate::i18n::Lang::detect(cli.lang.as_deref())
}

pub async fn lookup(cli: &Cli, filter: &LookupFilter) -> Result<Report, OpError> {
    with_session(cli, async |s: &mut Session| {
        let page = account::lookup(s, filter).await?;
        Ok(render::lookup(s, &page, lang(cli)))
    })
    .await
}

pub async fn show(cli: &Cli, who: &str) -> Result<Report, OpError> {
    with_session(cli, async |s: &mut Session| {
        let a = account::resolve(s, who).await?;
        let mut summary = account::AccountSummary::of(s, &a);
        let second = second_factor_notes(s, &a).await?;
        summary.notes.extend(second.iter().cloned());
        summary.notes_zh.extend(second);
        Ok(render::show(s, &summary, lang(cli)))
    })
    .await
}

/// What `show` says about an account's second factors / external sign-in.
async fn second_factor_notes(
    s: &mut Session,
    a: &account::Account,
) -> Result<Vec<String>, OpError> {
    Ok(crate::ops::second_factor::active(s, &a.id)
        .await?
        .into_iter()
        .map(|f| {
            format!(
                "second factor: {} is on ({}); a new password alone does not sign in: reset / restore-admin --clear-2fa turns it off",
                f.what, f.column
            )
        })
        .collect())
}

/// `reset`'s request: a backup restore with `--from-backup`, a transplant
/// with `--from`, else a new password (from stdin, or generated).
pub fn reset_request(
    who: &str,
    flags: ResetFlags,
    (from, from_backup): (&Option<String>, &Option<String>),
    new_password_stdin: bool,
) -> Result<WriteRequest, OpError> {
    let account = who.to_string();
    if let Some(source) = from_backup {
        return Ok(WriteRequest::FromBackup {
            account,
            source: source.clone(),
            flags,
        });
    }
    Ok(match from {
        Some(donor) => WriteRequest::Transplant {
            account,
            donor: donor.clone(),
            flags,
        },
        None => WriteRequest::Reset {
            account,
            password: match new_password_stdin {
                true => NewPassword::Given(prompt::read_secret_line("new password")?),
                false => NewPassword::Generate,
            },
            flags,
        },
    })
}

/// `undo ENTRY --identity FILE`.
pub fn undo_request(entry: i64, identity: &Path) -> WriteRequest {
    WriteRequest::Undo {
        entry,
        identity: identity.to_path_buf(),
    }
}

/// Every write: check the flags, open the journal (a dry run only borrows an
/// existing one) and the session, `prepare`, show, confirm, `commit`, render.
pub async fn write(cli: &Cli, request: WriteRequest, args: &WriteArgs) -> Result<Report, OpError> {
    if args.reason.trim().is_empty() {
        return Err(OpError::Usage(request.reason_needed()));
    }
    if !args.dry_run && !args.yes && !prompt::interactive() {
        return Err(OpError::Usage(Said::key("said.yes_needed", &[])));
    }
    let paths = journal_paths(cli)?;
    let mut journal = match args.dry_run {
        true => connect::existing_journal(&paths),
        false => Some(connect::open_journal_forwarding(
            &paths,
            cli.forward.as_deref(),
            cli.config.as_deref(),
        )?),
    };
    let mut s = session(cli).await?;
    let prepared = write::prepare(&mut s, journal.as_mut(), request, args.dry_run).await;
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            s.close().await?;
            return Err(e);
        }
    };
    let lang = crate::i18n::Lang::detect(cli.lang.as_deref());
    let mut text = render::prepared(&s, &prepared, lang);
    let Some(j) = journal
        .as_mut()
        .filter(|_| !args.dry_run && !prepared.nothing_to_do())
    else {
        s.close().await?;
        return Ok(render::not_applied(text, &prepared, args.dry_run, lang));
    };
    if !args.yes {
        prompt::confirm(&text, prepared.login())?;
        text.clear();
    }
    let applied = write::commit(&mut s, j, &prepared, &args.reason).await?;
    s.close().await?;
    let mut report = render::committed(text, &prepared, &applied, lang);
    // Best-effort forwarding that failed: the entries wait, and the operator knows.
    if let Some(waiting) = j.waiting() {
        if let Some(doc) = report.json.as_object_mut() {
            doc.insert("forward_waiting".into(), json!(waiting.to_string()));
        }
        report.text.push_str(&(waiting.text(lang) + "\n"));
    }
    Ok(report)
}

pub async fn calibrate(cli: &Cli, who: &str, backup: Option<&str>) -> Result<Report, OpError> {
    let known = prompt::read_secret_line("known password")?;
    let mut s = session(cli).await?;
    if let Some(source) = backup {
        // The backup's value: read, verified, nothing written (not even the journal).
        let c = crate::ops::backup::calibrate(&mut s, who, source, &known).await;
        let warnings = s.warnings.clone();
        s.close().await?;
        return Ok(render::calibration(&c?, &warnings, lang(cli)));
    }
    let mut warnings = s.warnings.clone();
    let mut journal = open_journal(cli)
        .inspect_err(|e| warnings.push(format!("{e}; the calibration is not journaled")))
        .ok();
    let c = protocol::calibrate(&mut s, journal.as_mut(), who, &known).await;
    s.close().await?;
    Ok(render::calibration(&c?, &warnings, lang(cli)))
}

pub struct DrillArgs<'a> {
    pub account: Option<&'a str>,
    pub report: Option<&'a Path>,
    pub format: &'a str,
    pub on_copy: Option<&'a str>,
    pub dormant_days: i64,
}

/// `drill`: connect (to --on-copy when given, with the same connector,
/// prefix and encoder), rehearse, report.
pub async fn drill(cli: &Cli, args: &DrillArgs<'_>) -> Result<Report, OpError> {
    // Refuse a bad format before anything runs.
    drill::check_report_format(args.format)?;
    let mut j = open_journal(cli)?;
    let quiet = cli.json;
    let mut progress = |t: &protocol::StepTime| {
        if !quiet {
            prompt::drill_step(t);
        }
    };
    let mut timer = drill::Timer::new(&mut progress);
    let target = match args.on_copy {
        None => target(cli)?,
        Some(url) => drill::copy_target(cli.target.as_deref(), url)?,
    };
    let spec = spec_for(cli, target)?;
    let mut s = connect::open_session(&spec, &all_connectors(cli)?).await?;
    timer.lap("connect");
    let on_copy = args.on_copy.is_some();
    let r = drill::run(
        &mut s,
        &mut j,
        args.account,
        on_copy,
        &mut timer,
        args.dormant_days,
    )
    .await;
    s.close().await?;
    let r = r?;
    let body = drill::render_report(&r, args.format)?;
    if let Some(path) = args.report {
        drill::save_report(&r, path, &body)?;
    }
    Ok(render::drill(&r, args.report, body))
}

pub async fn check(
    cli: &Cli,
    dormant_days: i64,
    all_accounts: bool,
    prom_file: Option<&Path>,
) -> Result<Report, OpError> {
    let started = std::time::Instant::now();
    let checked = with_session(cli, async |s: &mut Session| {
        let opts = posture::CheckOptions {
            dormant_days,
            all_accounts,
            progress: Some(&prompt::survey_progress),
        };
        let p = posture::check_with(s, &opts).await?;
        Ok((p, s.warnings.clone(), s.place()))
    })
    .await;
    if let Some(path) = prom_file {
        // A check that could not run still says so: locksmith_check_up 0.
        let labels = match &checked {
            Ok((_, _, place)) => metrics::Labels {
                target: metrics::place_label(place),
                connector: place.connector.clone(),
                ..metrics::Labels::default()
            },
            Err(_) => metrics::Labels {
                target: target(cli)
                    .map(|t| metrics::target_label(&t))
                    .unwrap_or_default(),
                connector: cli.connector.clone().unwrap_or_default(),
                ..metrics::Labels::default()
            },
        };
        let posture = checked.as_ref().ok().map(|(p, _, _)| p);
        let seconds = started.elapsed().as_secs_f64();
        let samples =
            metrics::posture_samples(&labels, posture, seconds, chrono::Utc::now().timestamp());
        metrics::write_atomic(path, &metrics::render(&samples))?;
    }
    let (p, warnings, _) = checked?;
    Ok(render::posture(&p, &warnings))
}

/// `check --departed FILE`: the listed accounts still enabled (exit 8).
pub async fn check_departed(cli: &Cli, file: &Path, match_by: &str) -> Result<Report, OpError> {
    let by = MatchBy::parse(match_by)?;
    let list = offboard::read_list(file)?;
    with_session(cli, async |s: &mut Session| {
        let p = offboard::departed(s, &list, by).await?;
        Ok(render::posture(&p, &s.warnings))
    })
    .await
}

/// The checks every batch write makes first: a reason, and --yes without a terminal.
fn batch_flags(args: &OffboardArgs) -> Result<(), OpError> {
    if args.reason.trim().is_empty() {
        return Err(OpError::Usage(Said::key("said.reason_needed", &[])));
    }
    if !args.dry_run && !args.yes && !prompt::interactive() {
        return Err(OpError::Usage(Said::key("said.yes_needed", &[])));
    }
    Ok(())
}

/// `offboard --from FILE` (or `--undo BATCH`): summary, one confirmation
/// (the typed count, or --yes), the batch, the report.
pub async fn offboard(cli: &Cli, args: &OffboardArgs) -> Result<Report, OpError> {
    batch_flags(args)?;
    let paths = journal_paths(cli)?;
    let mut journal = match args.dry_run {
        true => connect::existing_journal(&paths),
        false => Some(connect::open_journal(&paths)?),
    };
    if let Some(batch) = &args.undo {
        return offboard_undo(cli, args, batch, journal).await;
    }
    let by = MatchBy::parse(&args.match_by)?;
    let file = args
        .from
        .as_deref()
        .ok_or_else(|| OpError::Usage("offboard needs --from FILE or --undo BATCH".into()))?;
    let list = offboard::read_list(file)?;
    let mut s = session(cli).await?;
    let prepared = offboard::prepare(
        &mut s,
        journal.as_mut(),
        &list,
        by,
        &args.reason,
        args.dry_run,
    )
    .await;
    let summary = match prepared {
        Ok(summary) => summary,
        Err(e) => {
            s.close().await?;
            return Err(e);
        }
    };
    let lang = lang(cli);
    let mut text = batch::offboard_summary(&summary, lang);
    let Some(j) = journal
        .as_mut()
        .filter(|_| !args.dry_run && summary.to_disable() > 0)
    else {
        s.close().await?;
        return Ok(batch::offboard_not_run(text, &summary, args.dry_run, lang));
    };
    if !args.yes {
        prompt::confirm_count(&text, summary.to_disable(), lang)?;
        text.clear();
    }
    let mut progress = batch_progress(cli);
    let report = offboard::run(&mut s, j, &summary, &args.reason, &mut progress).await;
    s.close().await?;
    Ok(batch::offboard_done(
        text,
        &summary,
        &report?,
        &args.reason,
        lang,
    ))
}

/// A batch's progress line on stderr, none under `--json`.
fn batch_progress(cli: &Cli) -> impl FnMut(usize, usize) {
    let quiet = cli.json;
    move |done, total| {
        if !quiet {
            prompt::batch_progress(done, total);
        }
    }
}

/// `offboard --undo BATCH`: what the batch disabled and still holds, then the re-enables.
async fn offboard_undo(
    cli: &Cli,
    args: &OffboardArgs,
    batch: &str,
    journal: Option<Journal>,
) -> Result<Report, OpError> {
    let mut j = journal.ok_or_else(|| {
        OpError::Usage("offboard --undo reads the journal, and there is none yet".into())
    })?;
    let mut s = session(cli).await?;
    let prepared = offboard::prepare_undo(&mut s, &mut j, batch, args.dry_run).await;
    let summary = match prepared {
        Ok(summary) => summary,
        Err(e) => {
            s.close().await?;
            return Err(e);
        }
    };
    let lang = lang(cli);
    let mut text = batch::undo_summary(&summary, lang);
    if args.dry_run || summary.to_enable() == 0 {
        s.close().await?;
        return Ok(batch::undo_not_run(text, &summary, args.dry_run, lang));
    }
    if !args.yes {
        prompt::confirm_count(&text, summary.to_enable(), lang)?;
        text.clear();
    }
    let mut progress = batch_progress(cli);
    let report = offboard::run_undo(&mut s, &mut j, &summary, &args.reason, &mut progress).await;
    s.close().await?;
    Ok(batch::undo_done(text, &summary, &report?, lang))
}

pub async fn connectors(cli: &Cli, command: &ConnectorsCommand) -> Result<Report, OpError> {
    let all = all_connectors(cli)?;
    match command {
        ConnectorsCommand::List => Ok(render::connector_list(&all)),
        ConnectorsCommand::Show { name } => {
            let c = crate::connector::find(&all, name)?;
            Ok(Report::ok(
                render::connector_file(&c),
                serde_json::to_value(&c).unwrap_or_default(),
            ))
        }
        ConnectorsCommand::Check => {
            // `check` looks for the tables under the install's prefix, like every other command.
            let all = connect::with_prefix(&all, cli.prefix.as_deref())?;
            let spec = spec_for(cli, target(cli)?)?;
            let reports = check::check_target(&spec, &all).await?;
            Ok(render::connector_checks(&reports))
        }
    }
}

/// `guide [NAME]`: one system's way back in (or several for a family name), or the list.
pub fn guide(cli: &Cli, name: Option<&str>) -> Result<Report, OpError> {
    let lang = crate::tui::i18n::Lang::detect(cli.lang.as_deref());
    let zh = lang == crate::tui::i18n::Lang::Zh;
    Ok(match name {
        None => render::guide_list(&crate::ops::guide::all()?, lang),
        Some(n) => {
            let found: Vec<_> = crate::ops::guide::find(n)?
                .iter()
                .map(|g| g.in_lang(zh))
                .collect();
            render::guides(&found, lang)
        }
    })
}
