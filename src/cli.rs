//! The command-line shell: parses arguments, calls operations, renders
//! results as text or one JSON document. No logic of its own.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::backend::Target;
use crate::connector::{self, Connector};
use crate::journal::{EntryKind, Journal, NewEntry};
use crate::ops::{
    self, Action, LookupFilter, OpError, PlanOptions, Session, account, check, drill as drill_op,
    emergency, plan, posture, protocol,
};
use crate::schemes;
use crate::secret::Password;

/// Exit codes (README "Exit codes").
pub const EXIT_CHECK_FAILED: i32 = 8;
/// `audit verify`: the chain is intact, but an intent has contradicting outcomes.
pub const EXIT_CONTRADICTION: i32 = 9;

#[derive(Parser, Debug)]
#[command(
    name = "locksmith",
    version,
    about = "Win back access to on-premises CRMs by working directly on their databases",
    after_help = "The DB password comes from LOCKSMITH_DB_PASSWORD, ~/.my.cnf [client], or a no-echo prompt."
)]
pub struct Cli {
    /// Target database, e.g. mysql://root@127.0.0.1:3306/crm, postgres://odoo@127.0.0.1:5432/odoo or mssql://sa@u8db\U8/UFSystem (no password here: use LOCKSMITH_DB_PASSWORD or SQLCMDPASSWORD)
    #[arg(long, global = true, env = "LOCKSMITH_TARGET")]
    pub target: Option<String>,
    /// Connector name (see `connectors list`); detected from the schema when omitted
    #[arg(long, global = true)]
    pub connector: Option<String>,
    /// Table prefix for vendors that allow renaming tables
    #[arg(long, global = true)]
    pub prefix: Option<String>,
    /// Journal file (default: the user state dir); its HMAC key lives beside it as PATH.key
    #[arg(long, global = true, env = "LOCKSMITH_JOURNAL")]
    pub journal: Option<PathBuf>,
    /// Print one JSON document instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// External encoder program: reads the password (one line) on stdin, prints the vendor's
    /// stored value; replaces the connector's scheme (writes need `calibrate` first)
    #[arg(long, global = true, env = "LOCKSMITH_ENCODER")]
    pub encoder: Option<String>,
    /// An argument for --encoder (repeat for several)
    #[arg(long = "encoder-arg", global = true, allow_hyphen_values = true)]
    pub encoder_arg: Vec<String>,
    /// Console language: en or zh (default: from LC_ALL / LC_MESSAGES / LANG)
    #[arg(long, global = true, value_parser = ["en", "zh"])]
    pub lang: Option<String>,
    /// Without a command: open the console (profile picker, or straight to --target)
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open the console on an embedded demo database (SQLite in a temp dir; no server needed)
    Demo,
    /// Search accounts by login, name, email or phone (substring, matched literally)
    Lookup {
        query: Option<String>,
        #[arg(long)]
        admins: bool,
        #[arg(long)]
        locked: bool,
        #[arg(long)]
        disabled: bool,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Every mapped field of one account (login or #ID), its scheme and the connector's notes
    Show { account: String },
    /// Reset a password in the vendor's format through the guarded write protocol
    Reset {
        account: String,
        #[command(flatten)]
        write: WriteArgs,
        /// Read the new password from stdin instead of generating one
        #[arg(long)]
        new_password_stdin: bool,
        /// Also write the connector's unlock values
        #[arg(long)]
        unlock: bool,
        /// Make the vendor ask for a new password at next login, where it can
        #[arg(long)]
        must_change: bool,
        /// Reset even when the stored value does not have the scheme's shape
        #[arg(long)]
        force: bool,
        /// Transplant: copy this account's stored password value (and salt) instead of
        /// hashing a new password; afterwards ACCOUNT accepts DONOR's password
        #[arg(long, value_name = "DONOR", conflicts_with = "new_password_stdin")]
        from: Option<String>,
    },
    /// Write the connector's unlock / enable values through the guarded write protocol
    Unlock {
        account: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Check that the scheme reproduces an account's stored value (known password on stdin)
    Calibrate { account: String },
    /// Break glass: restore the emergency admin in one guarded transaction (re-enable, undelete,
    /// unlock, re-link the admin role, re-create the row from the connector's template, reset the
    /// password — generated, shown once). Journaled as a break-glass entry that stays open until
    /// `audit close ID --reason`.
    RestoreAdmin {
        /// The emergency admin's login or #ID (default: the connector's [emergency])
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Break-glass entries still open; exits 8 while one is open longer than --max-open-hours
    Status {
        /// How long a break-glass entry may stay open
        #[arg(long, env = "LOCKSMITH_MAX_OPEN_HOURS", default_value_t = 24)]
        max_open_hours: u64,
    },
    /// Rehearse the emergency-admin recovery on the target: apply, verify, ROLL BACK, time each step
    Drill {
        /// The emergency admin's login or #ID (default: the connector's [emergency])
        #[arg(long)]
        account: Option<String>,
        /// Write the report to this file (default: print it)
        #[arg(long)]
        report: Option<PathBuf>,
        /// Report format: md or json
        #[arg(long, default_value = "md")]
        format: String,
        /// Run on this restored copy of the database instead of --target (needed for MyISAM tables)
        #[arg(long)]
        on_copy: Option<String>,
        /// Admins without a login for longer are reported as dormant
        #[arg(long, default_value_t = 90)]
        dormant_days: i64,
    },
    /// The access posture: admins, emergency admin, default passwords, legacy formats (exit 8 on a failure)
    Check {
        /// Admins without a login for longer are reported as dormant
        #[arg(long, default_value_t = 90)]
        dormant_days: i64,
    },
    /// Read and verify the journal
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Shipped and local connectors
    Connectors {
        #[command(subcommand)]
        command: ConnectorsCommand,
    },
    /// Password value tools
    Hash {
        #[command(subcommand)]
        command: HashCommand,
    },
}

#[derive(Args, Debug)]
pub struct WriteArgs {
    /// Why: recorded in the journal (required)
    #[arg(long)]
    pub reason: String,
    /// Print the plan and write nothing, not even the journal
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required without a terminal)
    #[arg(long)]
    pub yes: bool,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    List {
        #[arg(long)]
        limit: Option<u64>,
    },
    Show {
        id: i64,
    },
    /// Check the hash chain; with --checkpoint COUNT:HASH also detect a truncated tail
    Verify {
        #[arg(long)]
        checkpoint: Option<String>,
    },
    /// Print the entry count and head hash to keep somewhere off this machine
    Checkpoint,
    /// Close a break-glass entry (restore-admin) once the emergency is over
    Close {
        id: i64,
        /// What was done after the emergency (password rotated, account sealed again…)
        #[arg(long)]
        reason: String,
    },
    /// Settle intents without an outcome (crash, lost connection at commit) by reading the --target rows
    Reconcile,
    Export {
        #[arg(long, default_value = "jsonl")]
        format: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConnectorsCommand {
    List,
    Show {
        name: String,
    },
    /// Validate connectors against the --target database
    Check,
}

#[derive(Subcommand, Debug)]
pub enum HashCommand {
    /// List the formats a stored value could be
    Detect { value: String },
}

/// A finished command: what to print and the exit code.
pub struct Report {
    pub text: String,
    pub json: serde_json::Value,
    pub code: i32,
}

impl Report {
    fn ok(text: String, json: serde_json::Value) -> Report {
        Report {
            text,
            json,
            code: 0,
        }
    }
}

fn connectors() -> Result<Vec<Connector>, OpError> {
    Ok(connector::load_all(connector::user_dir().as_deref())?)
}

/// `--journal`, else config.toml `[journal] path`, else the user's own journal.
fn journal_location(cli: &Cli) -> Result<crate::config::JournalLocation, OpError> {
    let config = crate::config::load().map_err(|e| OpError::Usage(e.to_string()))?;
    crate::config::journal_location(cli.journal.as_deref(), &config.journal)
        .map_err(|e| OpError::Usage(e.to_string()))
}

fn journal_paths(cli: &Cli) -> Result<(PathBuf, PathBuf), OpError> {
    journal_location(cli).map(|l| (l.path, l.key))
}

fn open_journal(cli: &Cli) -> Result<Journal, OpError> {
    journal_location(cli)?.open().map_err(OpError::Journal)
}

fn target(cli: &Cli) -> Result<Target, OpError> {
    let raw = cli.target.as_deref().ok_or_else(|| {
        OpError::Usage(
            "no target: pass --target mysql://user@host:port/database, postgres://user@host:port/database or mssql://user@host[\\INSTANCE]/database (or set LOCKSMITH_TARGET)"
                .into(),
        )
    })?;
    let mut target = Target::parse(raw).map_err(|e| OpError::Usage(e.to_string()))?;
    target.resolve_password();
    Ok(target)
}

async fn session(cli: &Cli) -> Result<Session, OpError> {
    let mut target = target(cli)?;
    let mut all = connectors()?;
    if let Some(prefix) = &cli.prefix {
        all = all
            .into_iter()
            .map(|c| c.with_prefix(prefix))
            .collect::<Result<_, _>>()?;
    }
    let mut s = match Session::open(&target, cli.connector.as_deref(), &all).await {
        Err(OpError::Backend(crate::backend::BackendError::Connect { reason, .. }))
            if reason.starts_with("access denied")
                && target.password.is_none()
                && target.prompt_password() =>
        {
            Session::open(&target, cli.connector.as_deref(), &all).await
        }
        other => other,
    }?;
    if let Some(spec) = operator_encoder(cli)? {
        s.set_encoder(spec, "--encoder")?;
    }
    Ok(s)
}

/// `--encoder PROGRAM` (or LOCKSMITH_ENCODER) with its `--encoder-arg`s.
fn operator_encoder(cli: &Cli) -> Result<Option<schemes::external::EncoderSpec>, OpError> {
    match &cli.encoder {
        None if !cli.encoder_arg.is_empty() => Err(OpError::Usage(
            "--encoder-arg needs --encoder PROGRAM (or LOCKSMITH_ENCODER)".into(),
        )),
        None => Ok(None),
        Some(p) if p.trim().is_empty() => Ok(None),
        Some(p) => {
            let mut command = vec![p.clone()];
            command.extend(cli.encoder_arg.iter().cloned());
            let spec = schemes::external::EncoderSpec {
                command,
                bound_to_login: false,
            };
            spec.validate()
                .map_err(|m| OpError::Usage(format!("--encoder: {m}")))?;
            Ok(Some(spec))
        }
    }
}

/// One line from stdin, without its line ending. Never echoed anywhere.
fn read_secret_line(what: &str) -> Result<Password, OpError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let pw = rpassword::prompt_password(format!("{what} (not echoed): "))
            .map_err(|e| OpError::Usage(format!("cannot read {what}: {e}")))?;
        return Ok(Password::new(pw));
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| OpError::Usage(format!("cannot read {what} from stdin: {e}")))?;
    let trimmed = line.trim_end_matches(['\n', '\r']).to_string();
    zeroize::Zeroize::zeroize(&mut line);
    if trimmed.is_empty() {
        return Err(OpError::Usage(format!("{what} on stdin is empty")));
    }
    Ok(Password::new(trimmed))
}

/// Pads or truncates to `cells` terminal cells: CJK characters take two.
fn pad(text: &str, cells: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w > cells {
            break;
        }
        out.push(ch);
        used += w;
    }
    out.push_str(&" ".repeat(cells - used));
    out
}

fn warnings_text(ws: &[String]) -> String {
    ws.iter().map(|w| format!("warning: {w}\n")).collect()
}

/// The console: `locksmith` (profiles or --target) and `locksmith demo`.
async fn console(cli: &Cli, demo: bool) -> Result<Report, OpError> {
    use crate::tui::{self, ConsoleOptions, i18n::Lang, state::Profile};
    let lang = Lang::detect(cli.lang.as_deref());
    let demo_env = if demo {
        Some(crate::demo::Demo::create().map_err(|e| OpError::Usage(e.to_string()))?)
    } else {
        None
    };
    let opts = match &demo_env {
        Some(d) => ConsoleOptions {
            lang,
            profiles: d.profiles(),
            start: None,
            connectors: crate::demo::connectors().map_err(|e| OpError::Usage(e.to_string()))?,
            journal: d.journal(),
            demo: true,
        },
        None => {
            let mut all = connectors()?;
            if let Some(prefix) = &cli.prefix {
                all = all
                    .into_iter()
                    .map(|c| c.with_prefix(prefix))
                    .collect::<Result<_, _>>()?;
            }
            let start = match &cli.target {
                Some(raw) => {
                    // Parse now so a bad URL is a usage error before the terminal switches.
                    let t = Target::parse(raw).map_err(|e| OpError::Usage(e.to_string()))?;
                    Some(Profile {
                        name: t.display(),
                        target: raw.clone(),
                        connector: cli.connector.clone(),
                        prefix: None,
                        note: None,
                        encoder: operator_encoder(cli)?.map(|e| e.command),
                    })
                }
                None => None,
            };
            ConsoleOptions {
                lang,
                profiles: tui::load_profiles(None).map_err(|e| OpError::Usage(e.to_string()))?,
                start,
                connectors: all,
                journal: journal_paths(cli)?,
                demo: false,
            }
        }
    };
    tui::run(opts)
        .await
        .map_err(|e| OpError::Usage(e.to_string()))?;
    drop(demo_env);
    Ok(Report::ok(String::new(), json!({})))
}

pub async fn run(cli: Cli) -> Result<Report, OpError> {
    let Some(command) = &cli.command else {
        return console(&cli, false).await;
    };
    match command {
        Command::Demo => console(&cli, true).await,
        Command::Lookup {
            query,
            admins,
            locked,
            disabled,
            limit,
            offset,
        } => {
            let mut s = session(&cli).await?;
            let filter = LookupFilter {
                query: query.clone(),
                admins: *admins,
                locked: *locked,
                disabled: *disabled,
                limit: (*limit).clamp(1, 10_000),
                offset: *offset,
            };
            let page = account::lookup(&mut s, &filter).await?;
            let rows: Vec<serde_json::Value> = page
                .accounts
                .iter()
                .map(|a| {
                    let st = a.state(&s.connector);
                    json!({
                        "id": a.id_text(),
                        "login": a.login,
                        "display": a.text("display"),
                        "email": a.text("email"),
                        "phone": a.text("phone"),
                        "admin": a.is_admin,
                        "enabled": st.enabled,
                        "deleted": st.deleted,
                        "locked": st.locked,
                        "scheme_shape": a.shape_ok(&s),
                    })
                })
                .collect();
            let mut text = warnings_text(&s.warnings);
            text.push_str(&format!(
                "{} {} {} {:<7} {:<10} {}\n",
                pad("ID", 12),
                pad("LOGIN", 20),
                pad("NAME", 16),
                "ADMIN",
                "STATE",
                "SCHEME"
            ));
            for a in &page.accounts {
                let st = a.state(&s.connector);
                let state = if st.deleted {
                    "deleted"
                } else if st.locked == Some(true) {
                    "locked"
                } else if st.enabled == Some(false) {
                    "disabled"
                } else {
                    "enabled"
                };
                text.push_str(&format!(
                    "{} {} {} {:<7} {:<10} {}\n",
                    pad(&a.id_text(), 12),
                    pad(&a.login, 20),
                    pad(&a.text("display").unwrap_or_default(), 16),
                    if a.is_admin { "admin" } else { "" },
                    state,
                    if a.shape_ok(&s) { "ok" } else { "other-format" }
                ));
            }
            text.push_str(&format!(
                "{} account(s){}\n",
                page.accounts.len(),
                if page.more {
                    format!(
                        "; more with --offset {}",
                        offset + page.accounts.len() as u64
                    )
                } else {
                    String::new()
                }
            ));
            for n in &page.notes {
                text.push_str(&format!("note: {n}\n"));
            }
            let json = json!({
                "connector": s.connector.name,
                "accounts": rows,
                "more": page.more,
                "notes": page.notes,
                "warnings": s.warnings,
            });
            s.close().await?;
            Ok(Report::ok(text, json))
        }
        Command::Show { account: who } => {
            let mut s = session(&cli).await?;
            let a = account::resolve(&mut s, who).await?;
            let st = a.state(&s.connector);
            let stored = a.stored_password();
            let detected: Vec<String> = schemes::detect(&stored)
                .into_iter()
                .map(|c| c.format)
                .collect();
            let mut fields = serde_json::Map::new();
            let mut text = warnings_text(&s.warnings);
            text.push_str(&format!("{} — {}\n", a.label(), s.connector.title));
            for (role, col, v) in &a.fields {
                // The stored hash and salt are secrets: show their shape only.
                let shown = match *role {
                    "password" | "salt" => match v.as_text() {
                        None => "NULL".to_string(),
                        Some(t) => format!("<{} characters>", t.chars().count()),
                    },
                    _ => v.as_text().unwrap_or_else(|| "NULL".into()),
                };
                text.push_str(&format!("  {role:<17} {col:<18} {shown}\n"));
                fields.insert(role.to_string(), json!({ "column": col, "value": shown }));
            }
            text.push_str(&format!(
                "  admin: {}   enabled: {}   deleted: {}   locked: {}\n",
                a.is_admin,
                st.enabled.map_or("n/a".into(), |b| b.to_string()),
                st.deleted,
                st.locked
                    .map_or("not in the database".into(), |b| b.to_string())
            ));
            text.push_str(&format!(
                "  scheme: {} ({})\n  stored value looks like: {}\n",
                s.scheme.id(),
                if a.shape_ok(&s) {
                    "shape matches"
                } else {
                    "shape does NOT match"
                },
                if detected.is_empty() {
                    "unknown".to_string()
                } else {
                    detected.join(", ")
                }
            ));
            let older = s.older_format(&stored).map(|o| o.id());
            if let Some(o) = &older {
                text.push_str(&format!(
                    "  older format: {o} (still accepted by the vendor; a reset replaces it)\n"
                ));
            }
            for n in &s.connector.notes {
                text.push_str(&format!("note: {n}\n"));
            }
            let json = json!({
                "older_format": older,
                "account": a.label(), "id": a.id_text(), "login": a.login,
                "fields": fields, "admin": a.is_admin, "state": st,
                "scheme": s.scheme.id(), "scheme_shape": a.shape_ok(&s),
                "detected": detected, "notes": s.connector.notes, "warnings": s.warnings,
            });
            s.close().await?;
            Ok(Report::ok(text, json))
        }
        Command::Reset {
            account: who,
            write,
            new_password_stdin,
            unlock,
            must_change,
            force,
            from,
        } => {
            let opts = PlanOptions {
                unlock: *unlock,
                must_change: *must_change,
                force: *force,
                donor: from.clone(),
                ..PlanOptions::default()
            };
            let (password, generated) = if from.is_some() {
                (None, false)
            } else if *new_password_stdin {
                (Some(read_secret_line("new password")?), false)
            } else {
                (
                    Some(Password::generate(20).map_err(|e| OpError::Refused(e.to_string()))?),
                    true,
                )
            };
            write_command(&cli, who, Action::Reset, password, generated, &opts, write).await
        }
        Command::Unlock {
            account: who,
            write,
        } => {
            write_command(
                &cli,
                who,
                Action::Unlock,
                None,
                false,
                &PlanOptions::default(),
                write,
            )
            .await
        }
        Command::Calibrate { account: who } => {
            let known = read_secret_line("known password")?;
            let mut s = session(&cli).await?;
            let mut warnings = s.warnings.clone();
            let mut journal = match open_journal(&cli) {
                Ok(j) => Some(j),
                Err(e) => {
                    warnings.push(format!("{e}; the calibration is not journaled"));
                    None
                }
            };
            let c = protocol::calibrate(&mut s, journal.as_mut(), who, &known).await?;
            s.close().await?;
            let mut text = format!(
                "{}{}: {} reproduces the stored value: {}\n",
                warnings_text(&warnings),
                c.account,
                c.scheme,
                if c.matches {
                    "yes — the format is proven on this install"
                } else {
                    "NO — the password is wrong or this install uses another format"
                }
            );
            if let Some(id) = &c.encoder_identity {
                text.push_str(&match (c.matches, c.journal_entry) {
                    (true, Some(e)) => format!(
                        "encoder {id}: calibrated (journal entry {e}); resets with this encoder are allowed on this target\n"
                    ),
                    (true, None) => format!(
                        "encoder {id}: matched, but the calibration could not be journaled, so resets with it stay refused\n"
                    ),
                    (false, _) => format!(
                        "encoder {id}: NOT calibrated; resets with it stay refused\n"
                    ),
                });
            }
            let code = if c.matches { 0 } else { EXIT_CHECK_FAILED };
            Ok(Report {
                text,
                json: json!({ "calibration": c, "warnings": warnings }),
                code,
            })
        }
        Command::Audit {
            command: AuditCommand::Reconcile,
        } => {
            let mut j = open_journal(&cli)?;
            let mut s = session(&cli).await?;
            let found = protocol::reconcile(&mut s, &mut j).await?;
            s.close().await?;
            let mut text = String::new();
            for r in &found {
                text.push_str(&format!("{}\n", r.note()));
            }
            if found.is_empty() {
                text.push_str("no open intents for this target\n");
            }
            Ok(Report::ok(text, json!({ "reconciled": found })))
        }
        Command::Audit { command } => audit(&cli, command),
        Command::RestoreAdmin { account, write } => {
            restore_admin(&cli, account.as_deref(), write).await
        }
        Command::Status { max_open_hours } => status(&cli, *max_open_hours),
        Command::Drill {
            account,
            report,
            format,
            on_copy,
            dormant_days,
        } => {
            drill(
                &cli,
                account.as_deref(),
                report.as_deref(),
                format,
                on_copy.as_deref(),
                *dormant_days,
            )
            .await
        }
        Command::Check { dormant_days } => {
            let mut s = session(&cli).await?;
            let p = posture::check(&mut s, *dormant_days).await?;
            let warnings = s.warnings.clone();
            s.close().await?;
            let mut text = warnings_text(&warnings);
            text.push_str(&posture_text(&p));
            Ok(Report {
                text,
                json: json!({ "posture": p, "ok": p.ok, "warnings": warnings }),
                code: if p.ok { 0 } else { EXIT_CHECK_FAILED },
            })
        }
        Command::Connectors { command } => connectors_command(&cli, command).await,
        Command::Hash {
            command: HashCommand::Detect { value },
        } => {
            let found = schemes::detect(value);
            let mut text = String::new();
            for c in &found {
                text.push_str(&format!(
                    "{:<16} {:<28} {}\n",
                    c.format,
                    c.detail,
                    c.vendors.join(", ")
                ));
            }
            if found.is_empty() {
                text.push_str("no known format matches this value\n");
            }
            Ok(Report::ok(text, json!({ "candidates": found })))
        }
    }
}

/// Asks the operator to type the login; required for writes on a terminal.
fn confirm(login: &str) -> Result<(), OpError> {
    eprint!("Type the login `{login}` to apply this plan: ");
    let _ = std::io::stderr().flush();
    let mut typed = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut typed)
        .map_err(|e| OpError::Usage(format!("cannot read the confirmation: {e}")))?;
    if typed.trim_end_matches(['\n', '\r']) == login {
        Ok(())
    } else {
        Err(OpError::Refused(
            "the typed login does not match; nothing was written".into(),
        ))
    }
}

/// What every write does first: check --reason and --yes, open the journal
/// (a write without one is refused; --dry-run only borrows an existing key
/// for fingerprints), connect, and settle intents earlier runs left open.
async fn prepare_write(
    cli: &Cli,
    write: &WriteArgs,
    why: &str,
) -> Result<(Option<Journal>, Session, Vec<String>), OpError> {
    if write.reason.trim().is_empty() {
        return Err(OpError::Usage(format!("--reason must say why {why}")));
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !write.dry_run && !write.yes && !interactive {
        return Err(OpError::Usage(
            "writes without a terminal need --yes (or use --dry-run to see the plan)".into(),
        ));
    }
    let mut journal = if write.dry_run {
        let (path, _) = journal_paths(cli)?;
        if path.exists() {
            open_journal(cli).ok()
        } else {
            None
        }
    } else {
        Some(open_journal(cli)?)
    };
    let mut s = session(cli).await?;
    let mut notes = Vec::new();
    if let (false, Some(j)) = (write.dry_run, journal.as_mut()) {
        for r in protocol::reconcile(&mut s, j).await? {
            notes.push(r.note());
        }
    }
    Ok((journal, s, notes))
}

async fn write_command(
    cli: &Cli,
    who: &str,
    action: Action,
    password: Option<Password>,
    generated: bool,
    opts: &PlanOptions,
    write: &WriteArgs,
) -> Result<Report, OpError> {
    let (mut journal, mut s, notes) = prepare_write(cli, write, "this write is made").await?;
    let plan = plan::build(&mut s, who, action, password, opts).await?;
    let fingerprint = |domain: &str, bytes: &[u8]| match &journal {
        Some(j) => j.fingerprint(domain, bytes),
        None => "hmac-sha256:(no journal key yet)".to_string(),
    };
    let view = plan.view(&fingerprint);
    let mut text = warnings_text(&s.warnings);
    for n in &notes {
        text.push_str(&format!("note: {n}\n"));
    }
    text.push_str(&render_plan(&view));
    if plan.nothing_to_do() {
        text.push_str("Nothing to change.\n");
        s.close().await?;
        return Ok(Report::ok(
            text,
            json!({ "plan": view, "applied": false, "notes": notes }),
        ));
    }
    if write.dry_run {
        if let (Some(j), Some(_)) = (journal.as_mut(), &plan.new_password)
            && let Err(e) = protocol::encoder_gate(&s, j)
        {
            text.push_str(&format!("note: a real run would be {e}\n"));
        }
        text.push_str("Dry run: nothing was written (not even the journal).\n");
        s.close().await?;
        return Ok(Report::ok(
            text,
            json!({ "plan": view, "applied": false, "dry_run": true, "notes": notes }),
        ));
    }
    // Refuse an uncalibrated encoder before asking to confirm (apply checks again).
    if let (Some(j), Some(_)) = (journal.as_mut(), &plan.new_password) {
        protocol::encoder_gate(&s, j)?;
    }
    if !write.yes {
        eprint!("{text}");
        text.clear();
        confirm(&plan.account.login)?;
    }
    let Some(j) = journal.as_mut() else {
        return Err(OpError::Usage(
            "internal: journal missing for a write".into(),
        ));
    };
    let applied = ops::apply(&mut s, j, &plan, write.reason.trim()).await?;
    s.close().await?;
    text.push_str(&format!(
        "{} {}: committed and verified. Journal entries {} (intent) and {} (outcome).\n",
        action.name(),
        applied.account,
        applied.intent_entry,
        applied.outcome_entry
    ));
    let mut json = json!({
        "journal_entry": applied.intent_entry,
        "outcome_entry": applied.outcome_entry,
        "account": applied.account,
        "scheme": plan.scheme_id,
        "method": plan.method(),
        "donor": plan.donor.as_ref().map(|d| d.account.label()),
        "verified": applied.verified,
        "plan": view,
        "notes": notes,
    });
    if generated && let Some(pw) = &plan.new_password {
        text.push_str(&format!(
            "\nNew password (shown once, not stored anywhere):\n\n    {}\n\n",
            pw.expose()
        ));
        json["temporary_password"] = json!(pw.expose());
    }
    Ok(Report::ok(text, json))
}

fn render_plan(v: &plan::PlanView) -> String {
    let mut t = format!(
        "Plan: {} {} in `{}` ({})\n",
        v.action.name(),
        v.account,
        v.table,
        v.scheme
    );
    if v.statements.len() > 1 {
        for (i, st) in v.statements.iter().enumerate() {
            t.push_str(&format!("  SQL {} ({}): {}\n", i + 1, st.purpose, st.sql));
        }
    } else {
        t.push_str(&format!("  SQL: {}\n", v.sql));
    }
    for c in &v.changes {
        t.push_str(&format!(
            "  {:<18} {}  ->  {}\n",
            c.column, c.before, c.after
        ));
    }
    t.push_str(&format!(
        "  guarded by: primary key + {}\n",
        v.guarded.join(", ")
    ));
    for w in &v.warnings {
        t.push_str(&format!("  warning: {w}\n"));
    }
    t
}

fn audit(cli: &Cli, command: &AuditCommand) -> Result<Report, OpError> {
    let mut j = open_journal(cli)?;
    match command {
        AuditCommand::List { limit } => {
            let entries = j.list(*limit).map_err(OpError::Journal)?;
            let mut text = String::new();
            for e in &entries {
                text.push_str(&format!(
                    "{:>5} {} {:<9} {:<10} {:<24} {}\n",
                    e.id,
                    e.at,
                    serde_json::to_value(e.entry.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    e.entry.action,
                    e.entry.account.clone().unwrap_or_default(),
                    e.entry
                        .outcome
                        .as_ref()
                        .and_then(|o| serde_json::to_value(o).ok())
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                ));
            }
            Ok(Report::ok(text, json!({ "entries": entries })))
        }
        AuditCommand::Show { id } => {
            let e = j.get(*id).map_err(|e| match e {
                crate::journal::JournalError::NotFound(id) => {
                    OpError::NotFound(format!("no journal entry {id}"))
                }
                other => OpError::Journal(other),
            })?;
            let json = serde_json::to_value(&e).unwrap_or_default();
            let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
            Ok(Report::ok(text, json))
        }
        AuditCommand::Verify { checkpoint } => {
            let r = j.verify().map_err(OpError::Journal)?;
            let mut problem = r
                .problem
                .as_ref()
                .map(|p| format!("CHAIN BROKEN at entry {}: {}", p.entry_id, p.message));
            if problem.is_none()
                && let Some(cp) = checkpoint
            {
                problem = check_checkpoint(&mut j, cp, r.entries)?;
            }
            let checkpoint_problem = problem.clone().filter(|_| r.problem.is_none());
            // Its own finding: the chain holds, two entries about one intent disagree.
            let contradicted = problem.is_none() && !r.contradictions.is_empty();
            if contradicted {
                let lines: Vec<String> = r
                    .contradictions
                    .iter()
                    .map(|c| format!("CONTRADICTING OUTCOMES: {}", c.message))
                    .collect();
                problem = Some(lines.join("\n"));
            }
            let text = match &problem {
                None => format!(
                    "journal {}: {} entries, chain intact, head {}{}\n",
                    j.path().display(),
                    r.entries,
                    r.head_hash.clone().unwrap_or_else(|| "(empty)".into()),
                    if checkpoint.is_some() {
                        ", checkpoint matches"
                    } else {
                        ""
                    }
                ),
                Some(p) => format!("journal {}: {p}\n", j.path().display()),
            };
            let code = match (&problem, contradicted) {
                (None, _) => 0,
                (Some(_), true) => EXIT_CONTRADICTION,
                (Some(_), false) => EXIT_CHECK_FAILED,
            };
            let mut json = serde_json::to_value(&r).unwrap_or_default();
            json["ok"] = json!(problem.is_none());
            json["checkpoint_problem"] = json!(checkpoint_problem);
            Ok(Report { text, json, code })
        }
        AuditCommand::Close { id, reason } => close_break_glass(&mut j, *id, reason),
        AuditCommand::Reconcile => Err(OpError::Usage(
            "internal: reconcile is handled with a session".into(),
        )),
        AuditCommand::Checkpoint => {
            let r = j.verify().map_err(OpError::Journal)?;
            if let Some(p) = &r.problem {
                return Ok(Report {
                    text: format!(
                        "refusing to checkpoint a broken chain: entry {}: {}\n",
                        p.entry_id, p.message
                    ),
                    json: serde_json::to_value(&r).unwrap_or_default(),
                    code: EXIT_CHECK_FAILED,
                });
            }
            let head = r.head_hash.clone().unwrap_or_default();
            let token = format!("{}:{head}", r.entries);
            Ok(Report::ok(
                format!(
                    "{token}\nKeep this line off this machine; `locksmith audit verify --checkpoint {token}` later proves no entry up to it was removed.\n"
                ),
                json!({ "entries": r.entries, "head_hash": head, "checkpoint": token }),
            ))
        }
        AuditCommand::Export { format } => {
            if format != "jsonl" {
                return Err(OpError::Usage(format!(
                    "export format `{format}` is not supported; use jsonl"
                )));
            }
            let mut buf = Vec::new();
            let n = j.export_jsonl(&mut buf).map_err(OpError::Journal)?;
            Ok(Report {
                text: String::from_utf8_lossy(&buf).into_owned(),
                // JSONL is already machine-readable: --json prints it unchanged.
                json: json!({ "exported": n }),
                code: if cli.json { -1 } else { 0 },
            })
        }
    }
}

/// A checkpoint `COUNT:HASH` holds when entry COUNT still exists with that hash.
fn check_checkpoint(
    j: &mut Journal,
    checkpoint: &str,
    entries: u64,
) -> Result<Option<String>, OpError> {
    let (count, hash) = checkpoint
        .split_once(':')
        .and_then(|(c, h)| Some((c.parse::<u64>().ok()?, h)))
        .ok_or_else(|| {
            OpError::Usage(format!(
                "--checkpoint `{checkpoint}` is not COUNT:HASH as printed by `audit checkpoint`"
            ))
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
        Err(crate::journal::JournalError::NotFound(_)) => Ok(Some(format!(
            "entry {count} named by the checkpoint is gone"
        ))),
        Err(e) => Err(OpError::Journal(e)),
    }
}

async fn connectors_command(cli: &Cli, command: &ConnectorsCommand) -> Result<Report, OpError> {
    let mut all = connectors()?;
    // `check` looks for the tables under the install's prefix, like every other command.
    if let (ConnectorsCommand::Check, Some(prefix)) = (command, &cli.prefix) {
        all = all
            .into_iter()
            .map(|c| c.with_prefix(prefix))
            .collect::<Result<_, _>>()?;
    }
    match command {
        ConnectorsCommand::List => {
            let mut text = format!(
                "{:<12} {:<34} {:<8} {}\n",
                "NAME", "TITLE", "ENGINES", "SCHEME"
            );
            let mut rows = Vec::new();
            for c in &all {
                let scheme = c.scheme().map(|s| s.id()).unwrap_or_default();
                text.push_str(&format!(
                    "{:<12} {:<34} {:<8} {}\n",
                    c.name,
                    c.title,
                    c.engines.join(","),
                    scheme
                ));
                rows.push(json!({ "name": c.name, "title": c.title, "engines": c.engines, "scheme": scheme, "source": c.source, "verification": c.verification }));
            }
            Ok(Report::ok(text, json!({ "connectors": rows })))
        }
        ConnectorsCommand::Show { name } => {
            let c = connector::find(&all, name)?;
            let text = connector_text(&c);
            let json = serde_json::to_value(&c).unwrap_or_default();
            Ok(Report::ok(text, json))
        }
        ConnectorsCommand::Check => {
            // Connect without picking a connector: checking is how one is picked.
            let target = target(cli)?;
            let mut backend = crate::backend::connect(&target).await?;
            let engine = backend.engine();
            let candidates: Vec<Connector> = match &cli.connector {
                Some(name) => vec![connector::find(&all, name)?],
                None => all
                    .into_iter()
                    .filter(|c| c.engines.iter().any(|e| e == engine))
                    .collect(),
            };
            let mut reports = Vec::new();
            for c in &candidates {
                reports.push(check::check(backend.as_mut(), c).await?);
            }
            backend.close().await?;
            let mut text = String::new();
            for r in &reports {
                if r.ok() {
                    text.push_str(&format!(
                        "{} ({}): ok on table `{}`\n",
                        r.connector, r.file, r.table
                    ));
                }
                for p in &r.problems {
                    text.push_str(&format!("{}: {}: {}\n", r.file, p.key, p.message));
                }
            }
            let ok = reports.iter().all(|r| r.ok());
            Ok(Report {
                text,
                json: json!({ "reports": reports, "ok": ok }),
                code: if ok { 0 } else { EXIT_CHECK_FAILED },
            })
        }
    }
}

fn connector_text(c: &Connector) -> String {
    if let Some(file) = c.source.strip_prefix("embedded:") {
        for (name, text) in connector::EMBEDDED {
            if *name == file {
                return format!("# {}\n{text}", c.source);
            }
        }
    }
    std::fs::read_to_string(&c.source)
        .unwrap_or_else(|e| format!("cannot read {}: {e}\n", c.source))
}

fn posture_text(p: &posture::Posture) -> String {
    let mut t = String::new();
    for f in &p.findings {
        let level = match f.level {
            posture::Level::Ok => "ok  ",
            posture::Level::Warn => "WARN",
            posture::Level::Fail => "FAIL",
        };
        t.push_str(&format!("{level} {:<18} {}\n", f.check, f.message));
        for a in &f.accounts {
            if f.level != posture::Level::Ok {
                t.push_str(&format!("       - {a}\n"));
            }
        }
    }
    t.push_str(&format!(
        "{} account(s) checked: {}\n",
        p.accounts_checked,
        if p.ok { "posture ok" } else { "a check FAILED" }
    ));
    t
}

/// restore-admin: locate, diagnose, one plan, confirm, apply (break-glass), password shown once.
async fn restore_admin(cli: &Cli, who: Option<&str>, write: &WriteArgs) -> Result<Report, OpError> {
    let (mut journal, mut s, notes) =
        prepare_write(cli, write, "the emergency admin is restored").await?;
    let diag = emergency::locate(&mut s, who).await?;
    let password = Password::generate(20).map_err(|e| OpError::Refused(e.to_string()))?;
    let plan = emergency::plan_restore(&mut s, &diag, password).await?;
    let fingerprint = |domain: &str, bytes: &[u8]| match &journal {
        Some(j) => j.fingerprint(domain, bytes),
        None => "hmac-sha256:(no journal key yet)".to_string(),
    };
    let view = plan.view(&fingerprint);
    let mut text = warnings_text(&s.warnings);
    for n in &notes {
        text.push_str(&format!("note: {n}\n"));
    }
    text.push_str(&format!("Emergency admin: {}\n", diag.label()));
    if diag.healthy() {
        text.push_str("  nothing is wrong with the row; the plan resets its password\n");
    }
    for p in &diag.problems {
        text.push_str(&format!("  wrong: {} — {}\n", p.code, p.message));
    }
    text.push_str(&render_plan(&view));
    if write.dry_run {
        text.push_str("Dry run: nothing was written (not even the journal).\n");
        s.close().await?;
        return Ok(Report::ok(
            text,
            json!({ "plan": view, "problems": diag.problems, "applied": false, "dry_run": true, "notes": notes }),
        ));
    }
    if !write.yes {
        eprint!("{text}");
        text.clear();
        confirm(&plan.account.login)?;
    }
    let Some(j) = journal.as_mut() else {
        return Err(OpError::Usage(
            "internal: journal missing for a write".into(),
        ));
    };
    let applied = ops::apply(&mut s, j, &plan, write.reason.trim()).await?;
    s.close().await?;
    text.push_str(&format!(
        "restore-admin {}: committed and verified. Break-glass journal entry {} (outcome {}) stays OPEN until `locksmith audit close {} --reason …`; `locksmith status` flags it after 24 hours.\n",
        applied.account, applied.intent_entry, applied.outcome_entry, applied.intent_entry
    ));
    let mut json = json!({
        "journal_entry": applied.intent_entry,
        "outcome_entry": applied.outcome_entry,
        "account": applied.account,
        "problems": diag.problems,
        "scheme": plan.scheme_id,
        "verified": applied.verified,
        "plan": view,
        "notes": notes,
    });
    if let Some(pw) = &plan.new_password {
        text.push_str(&format!(
            "\nNew password (shown once, not stored anywhere; seal it and rotate it after use):\n\n    {}\n\n",
            pw.expose()
        ));
        json["temporary_password"] = json!(pw.expose());
    }
    Ok(Report::ok(text, json))
}

/// `audit close ID --reason`: a `close` entry referring to a break-glass entry.
fn close_break_glass(j: &mut Journal, id: i64, reason: &str) -> Result<Report, OpError> {
    if reason.trim().is_empty() {
        return Err(OpError::Usage(
            "--reason must say how the emergency was closed".into(),
        ));
    }
    let e = j.get(id).map_err(|e| match e {
        crate::journal::JournalError::NotFound(id) => {
            OpError::NotFound(format!("no journal entry {id}"))
        }
        other => OpError::Journal(other),
    })?;
    if e.entry.kind != EntryKind::BreakGlass {
        return Err(OpError::Usage(format!(
            "journal entry {id} is not a break-glass entry (restore-admin); `locksmith status` lists the open ones"
        )));
    }
    if let Some(closed) = j.closed_by(id).map_err(OpError::Journal)? {
        return Err(OpError::Refused(format!(
            "break-glass entry {id} was already closed by entry {closed}"
        )));
    }
    let new = NewEntry {
        kind: EntryKind::Close,
        refers_to: Some(id),
        action: "close".into(),
        account: e.entry.account.clone(),
        reason: Some(reason.trim().to_string()),
        outcome: None,
        actor: crate::journal::Actor::current(),
        place: e.entry.place.clone(),
        details: json!({ "closes": id, "opened_at": e.at }),
    };
    let closed = j.append(&new).map_err(OpError::Journal)?;
    Ok(Report::ok(
        format!("break-glass entry {id} closed by entry {closed}\n"),
        json!({ "closed": id, "journal_entry": closed }),
    ))
}

/// `status`: open break-glass entries and whether one is overdue.
fn status(cli: &Cli, max_open_hours: u64) -> Result<Report, OpError> {
    let mut j = open_journal(cli)?;
    let open = j.open_break_glass().map_err(OpError::Journal)?;
    let now = chrono::Utc::now();
    let limit = i64::try_from(max_open_hours)
        .ok()
        .and_then(|h| h.checked_mul(3600))
        .ok_or_else(|| OpError::Usage("--max-open-hours is too large".into()))?;
    let mut rows = Vec::new();
    let mut text = String::new();
    let mut overdue_count = 0;
    for e in &open {
        let age = chrono::DateTime::parse_from_rfc3339(&e.at)
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(i64::MAX);
        // Open for longer than the limit; with --max-open-hours 0 every open entry is overdue.
        let overdue = age > limit || (limit == 0 && age >= 0);
        if overdue {
            overdue_count += 1;
        }
        text.push_str(&format!(
            "{} break-glass entry {} at {} — {} on {}/{} — open {}h{:02}m{}\n",
            if overdue { "OVERDUE" } else { "open   " },
            e.id,
            e.at,
            e.entry.account.clone().unwrap_or_default(),
            e.entry.place.host,
            e.entry.place.database,
            age / 3600,
            (age % 3600) / 60,
            if overdue {
                format!(
                    "; close it with `locksmith audit close {} --reason …`",
                    e.id
                )
            } else {
                String::new()
            }
        ));
        rows.push(json!({
            "entry": e.id, "at": e.at, "account": e.entry.account, "place": e.entry.place,
            "reason": e.entry.reason, "open_seconds": age, "overdue": overdue,
        }));
    }
    if open.is_empty() {
        text.push_str("no open break-glass entries\n");
    } else {
        text.push_str(&format!(
            "{} open break-glass entr{}, {} overdue (limit {} h)\n",
            open.len(),
            if open.len() == 1 { "y" } else { "ies" },
            overdue_count,
            max_open_hours
        ));
    }
    Ok(Report {
        text,
        json: json!({ "open": rows, "overdue": overdue_count, "max_open_hours": max_open_hours }),
        code: if overdue_count > 0 {
            EXIT_CHECK_FAILED
        } else {
            0
        },
    })
}

/// `drill`: connect (to --on-copy when given), rehearse, report.
async fn drill(
    cli: &Cli,
    who: Option<&str>,
    report: Option<&std::path::Path>,
    format: &str,
    on_copy: Option<&str>,
    dormant_days: i64,
) -> Result<Report, OpError> {
    if !matches!(format, "md" | "json") {
        return Err(OpError::Usage(format!(
            "--format `{format}`: use md or json"
        )));
    }
    let mut j = open_journal(cli)?;
    let mut progress = |t: &protocol::StepTime| {
        if !cli.json {
            eprintln!("drill: {:<48} {:>9.1} ms", t.step, t.millis);
        }
    };
    let mut timer = drill_op::Timer::new(&mut progress);
    let mut s = match on_copy {
        None => session(cli).await?,
        Some(url) => {
            let mut copy = Target::parse(url).map_err(|e| OpError::Usage(e.to_string()))?;
            if let Some(main) = &cli.target
                && Target::parse(main).is_ok_and(|t| t.display() == copy.display())
            {
                return Err(OpError::Usage(
                    "--on-copy names the --target itself; give the URL of a restored copy".into(),
                ));
            }
            copy.resolve_password();
            let mut all = connectors()?;
            if let Some(prefix) = &cli.prefix {
                all = all
                    .into_iter()
                    .map(|c| c.with_prefix(prefix))
                    .collect::<Result<_, _>>()?;
            }
            Session::open(&copy, cli.connector.as_deref(), &all).await?
        }
    };
    timer.lap("connect");
    let r = drill_op::run(
        &mut s,
        &mut j,
        who,
        on_copy.is_some(),
        &mut timer,
        dormant_days,
    )
    .await?;
    s.close().await?;
    let body = if format == "json" {
        serde_json::to_string_pretty(&r).unwrap_or_default() + "\n"
    } else {
        r.markdown()
    };
    let mut text = warnings_text(&r.plan.warnings);
    match report {
        Some(path) => {
            std::fs::write(path, &body).map_err(|e| {
                OpError::Usage(format!("cannot write the report {}: {e}", path.display()))
            })?;
            text.push_str(&format!(
                "drill done: time to recover {:.1} ms, rolled back: {}; report written to {}\n",
                r.time_to_recover_ms,
                r.rolled_back,
                path.display()
            ));
        }
        None => text.push_str(&body),
    }
    Ok(Report::ok(
        text,
        serde_json::to_value(&r).unwrap_or_default(),
    ))
}
