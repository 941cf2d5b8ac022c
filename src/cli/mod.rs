//! The command-line shell: clap arguments, a dispatcher whose arms call one
//! use case each (`ops`), and text renderers (`render`). Terminal prompts
//! live in `prompt`, the one place of the library allowed to write to the
//! terminal itself; everything else returns a `Report` for `main` to print.

mod audit;
mod batch;
mod commands;
mod fleet;
mod prompt;
mod render;
mod shell;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::ops::OpError;

/// Exit codes (README "Exit codes").
pub const EXIT_CHECK_FAILED: i32 = 8;
/// `audit verify`: the chain holds, but one intent has contradicting outcomes.
pub const EXIT_CONTRADICTION: i32 = 9;

#[derive(Parser, Debug)]
#[command(
    name = "locksmith",
    version,
    about = "Win back access to on-premises CRMs by working directly on their databases",
    after_help = "The DB password comes from LOCKSMITH_DB_PASSWORD, ~/.my.cnf [client] (MySQL), PGPASSWORD or ~/.pgpass (PostgreSQL), SQLCMDPASSWORD (SQL Server), or a no-echo prompt."
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
    /// Journal file (default: journal.sqlite in the user state dir, key journal.key beside it); with a PATH, the HMAC key is PATH.key
    #[arg(long, global = true, env = "LOCKSMITH_JOURNAL")]
    pub journal: Option<PathBuf>,
    /// Forward every journal entry, once durable, to this syslog receiver: syslog+tcp://HOST:PORT,
    /// syslog+tls://HOST[:PORT][?ca=/path.pem] or relp://HOST:PORT (replaces `[journal] forward`)
    #[arg(long, global = true, env = "LOCKSMITH_FORWARD", value_name = "URL")]
    pub forward: Option<String>,
    /// Config file (default: <config dir>/locksmith/config.toml, read when present)
    #[arg(long, global = true, env = "LOCKSMITH_CONFIG")]
    pub config: Option<PathBuf>,
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
    /// More connector files, read after <config>/locksmith/connectors (e.g. a kept demo's)
    #[arg(
        long,
        global = true,
        env = "LOCKSMITH_CONNECTORS_DIR",
        value_name = "DIR"
    )]
    pub connectors_dir: Option<PathBuf>,
    /// Read-only session: lookups, show, calibrate, check and audit work; every write (and drill)
    /// is refused before any journal entry (exit 5), and the DB session is read-only where the engine allows
    #[arg(long, global = true, env = "LOCKSMITH_READ_ONLY")]
    pub read_only: bool,
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
    Demo {
        /// Keep the demo's database, journal and connectors in DIR (and print how the CLI uses them)
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Search accounts by login, name, email or phone (substring, matched literally)
    Lookup(LookupArgs),
    /// Every mapped field of one account (login or #ID), its scheme and the connector's notes
    Show {
        /// The account: its exact login, or #ID for the primary key
        account: String,
    },
    /// Reset a password in the vendor's format through the guarded write protocol
    Reset {
        /// The account: its exact login, or #ID for the primary key
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
        /// Also turn off the account's second factor / external-only sign-in (connector [second_factor])
        #[arg(long)]
        clear_2fa: bool,
        /// Transplant: copy this account's stored password value (and salt) instead of
        /// hashing a new password; afterwards ACCOUNT accepts DONOR's password
        #[arg(long, value_name = "DONOR", conflicts_with = "new_password_stdin")]
        from: Option<String>,
        /// Restore ACCOUNT's own stored value from a backup: a restored copy's URL
        /// (mysql://…/crm_restore) or a dump file (mysqldump .sql/.sql.gz, pg_dump plain)
        #[arg(long, value_name = "SOURCE", conflicts_with_all = ["new_password_stdin", "from", "force"])]
        from_backup: Option<String>,
    },
    /// Undo a write: put back the before-values its journal entry sealed to `[journal] seal_to`
    /// (UPDATE-only writes: reset, unlock, transplant, backup restore), guarded by the values it wrote
    Undo {
        /// The write's intent entry (`locksmith audit list`)
        entry: i64,
        /// The age identity file whose recipient is `[journal] seal_to`
        #[arg(long)]
        identity: PathBuf,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Write the connector's unlock / enable values through the guarded write protocol
    Unlock {
        /// The account: its exact login, or #ID for the primary key
        account: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Disable an account with the connector's [disable] writes (what the vendor's admin screen
    /// writes) through the guarded write protocol; the last enabled admin is refused
    Disable {
        /// The account: its exact login, or #ID for the primary key
        account: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Disable departed staff from HR's list: one summary, one confirmation, then each account
    /// through the write protocol; a rerun finishes an interrupted batch; --undo BATCH reverses it
    Offboard(OffboardArgs),
    /// Check that the scheme reproduces an account's stored value (known password on stdin)
    Calibrate {
        /// The account: its exact login, or #ID for the primary key
        account: String,
        /// Check the value in this backup (restored copy URL or dump file) instead; writes nothing
        #[arg(long, value_name = "SOURCE")]
        from_backup: Option<String>,
    },
    /// Break glass: restore the emergency admin in one guarded transaction (re-enable, undelete,
    /// unlock, re-link the admin role, re-create the row from the connector's template, reset the
    /// password — generated, shown once). Journaled as a break-glass entry that stays open until
    /// `audit close ID --reason`.
    RestoreAdmin {
        /// The emergency admin's login or #ID (default: the connector's [emergency])
        #[arg(long)]
        account: Option<String>,
        /// Also turn off its second factor / external-only sign-in (connector [second_factor])
        #[arg(long)]
        clear_2fa: bool,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Break-glass entries still open; exits 8 while one is open longer than --max-open-hours
    Status {
        /// How long a break-glass entry may stay open
        #[arg(long, env = "LOCKSMITH_MAX_OPEN_HOURS", default_value_t = 24)]
        max_open_hours: u64,
        /// Also write the open break-glass entries and the last successful drill of every
        /// target in the journal as Prometheus metrics (node_exporter textfile, written atomically)
        #[arg(long, value_name = "PATH")]
        prom_file: Option<PathBuf>,
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
        /// Try the default passwords on every account, not only the admins and the emergency admin (uses every core; slow with bcrypt)
        #[arg(long)]
        all_accounts: bool,
        /// Also write the result as Prometheus metrics (node_exporter textfile, written atomically)
        #[arg(long, value_name = "PATH")]
        prom_file: Option<PathBuf>,
        /// Only check that every account listed in FILE (offboard's list format) is disabled:
        /// exit 8 while one is still enabled
        #[arg(long, value_name = "FILE")]
        departed: Option<PathBuf>,
        /// With --departed: match list entries by login, email, phone or auto
        #[arg(long = "match", default_value = "auto", value_parser = ["login", "email", "phone", "auto"])]
        match_by: String,
    },
    /// Run check, status or drill on many targets at once: the profiles of profiles.toml
    /// (or --profiles FILE), chosen by --tag, --parallel at a time, each with its own --timeout
    #[command(after_help = FLEET_EXIT_HELP)]
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
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
    /// How to get back in, offline: the hosted CRMs' official recovery paths and, for every
    /// connector, the Locksmith command (no NAME: the list; --lang zh, --json)
    Guide {
        /// A system's name or common spelling: salesforce, sfdc, 纷享销客, u8, 用友, 金蝶, …
        name: Option<String>,
    },
    /// Password value tools
    Hash {
        #[command(subcommand)]
        command: HashCommand,
    },
    /// Print the shell completion script: bash, zsh, fish or powershell
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff): `locksmith man | man -l -`
    Man,
}

/// The exit code of a fleet run (also in README "Exit codes").
pub const FLEET_EXIT_HELP: &str = "Exit code: the highest exit code among the targets, as each single command would exit: 0 every target ok; 2 a profile is unusable (its password_env unset, its password_file readable by others, a bad URL or connector); 3 a target could not be reached or did not finish within --timeout; 4 the emergency admin was not found; 5 refused (e.g. a drill on MyISAM tables); 6 the journal could not be written; 8 a check failed or a break-glass entry is overdue. --json prints one document with every target's own exit_code.";

#[derive(Subcommand, Debug)]
pub enum FleetCommand {
    /// The access posture of every target (exit 8 when a check fails on one)
    #[command(after_help = FLEET_EXIT_HELP)]
    Check {
        #[command(flatten)]
        run: FleetArgs,
        /// Admins without a login for longer are reported as dormant
        #[arg(long, default_value_t = 90)]
        dormant_days: i64,
        /// Try the default passwords on every account of every target (slow with bcrypt)
        #[arg(long)]
        all_accounts: bool,
        /// Also write every target's result as Prometheus metrics (node_exporter textfile)
        #[arg(long, value_name = "PATH")]
        prom_file: Option<PathBuf>,
    },
    /// Open break-glass entries and the last successful drill of every target, from the journal
    #[command(after_help = FLEET_EXIT_HELP)]
    Status {
        #[command(flatten)]
        run: FleetArgs,
        /// How long a break-glass entry may stay open
        #[arg(long, env = "LOCKSMITH_MAX_OPEN_HOURS", default_value_t = 24)]
        max_open_hours: u64,
        /// Also write every target's status as Prometheus metrics (node_exporter textfile)
        #[arg(long, value_name = "PATH")]
        prom_file: Option<PathBuf>,
    },
    /// Rehearse the emergency-admin recovery on every target (apply, verify, ROLL BACK), one
    /// report per target plus an index; each drill is journaled as `locksmith drill` does
    #[command(after_help = FLEET_EXIT_HELP)]
    Drill {
        #[command(flatten)]
        run: FleetArgs,
        /// Where the reports and the index go (default: fleet-drill-<UTC time>/ next to the journal)
        #[arg(long, value_name = "DIR")]
        report_dir: Option<PathBuf>,
        /// Report format: md or json
        #[arg(long, default_value = "md")]
        format: String,
        /// Admins without a login for longer are reported as dormant
        #[arg(long, default_value_t = 90)]
        dormant_days: i64,
    },
}

#[derive(Args, Debug)]
pub struct FleetArgs {
    /// The inventory (default: <config dir>/locksmith/profiles.toml)
    #[arg(long, value_name = "FILE")]
    pub profiles: Option<PathBuf>,
    /// Only the profiles carrying this tag (repeat: profiles carrying every one)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Targets at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    /// Each target's own limit in seconds, connecting included; a target over it counts as unreachable (3)
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub timeout: f64,
}

#[derive(Args, Debug)]
pub struct LookupArgs {
    /// Substring of the login, name, email or phone (matched literally)
    query: Option<String>,
    /// Administrators only
    #[arg(long)]
    admins: bool,
    /// Locked accounts only (where the database keeps lockouts)
    #[arg(long)]
    locked: bool,
    /// Disabled accounts only
    #[arg(long)]
    disabled: bool,
    /// Rows per page (1 to 10,000)
    #[arg(long, default_value_t = 50)]
    limit: u64,
    /// The next page: the cursor the previous page printed after "more with --after"
    #[arg(long, value_name = "CURSOR")]
    after: Option<String>,
    /// Only the exact login and the logins and phones that start with the query
    /// (read from their indexes on MySQL and SQL Server: fast on large tables)
    #[arg(long)]
    starts_with: bool,
}

impl LookupArgs {
    fn filter(&self) -> Result<crate::ops::LookupFilter, OpError> {
        let after = self
            .after
            .as_deref()
            .map(crate::ops::account::PageCursor::parse);
        Ok(crate::ops::LookupFilter {
            query: self.query.clone(),
            admins: self.admins,
            locked: self.locked,
            disabled: self.disabled,
            limit: self.limit.clamp(1, 10_000),
            after: after.transpose()?,
            starts_with: self.starts_with,
        })
    }
}

#[derive(Args, Debug)]
pub struct OffboardArgs {
    /// HR's list: one account a line, or a CSV export with a header (login / email / phone
    /// columns; UTF-8 with or without BOM, else GBK)
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "undo",
        conflicts_with = "undo"
    )]
    pub from: Option<PathBuf>,
    /// Re-enable exactly what batch BATCH disabled (the id its report printed), guarded by the
    /// values it wrote
    #[arg(long, value_name = "BATCH")]
    pub undo: Option<String>,
    /// Why: recorded in every intent of the batch (required; part of the batch id)
    #[arg(long)]
    pub reason: String,
    /// Which column a list entry is matched in: login, email, phone, or auto (login, then
    /// email for a value with @, else phone)
    #[arg(long = "match", default_value = "auto", value_parser = ["login", "email", "phone", "auto"])]
    pub match_by: String,
    /// Print the summary and write nothing, not even the journal
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for the typed count (required without a terminal)
    #[arg(long)]
    pub yes: bool,
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
    /// Every entry, one JSON object a line: jsonl (the journal's own), ecs (Elastic Common
    /// Schema) or ocsf (OCSF Account Change)
    Export {
        #[arg(long, default_value = "jsonl", value_name = "jsonl|ecs|ocsf")]
        format: String,
    },
    /// Send the entries the forward destination (--forward or [journal] forward) does not have
    /// yet, in order; exits 8 while some still wait
    Forward,
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

    /// Exit 8 (a check failed) unless `ok`.
    fn checked(text: String, json: serde_json::Value, ok: bool) -> Report {
        Report {
            text,
            json,
            code: if ok { 0 } else { EXIT_CHECK_FAILED },
        }
    }
}

/// The dispatcher: each arm hands its arguments to one command function.
impl Command {
    /// The write a write command asks for (reset, unlock, disable, undo, restore-admin).
    fn write_request(&self) -> Result<crate::ops::write::WriteRequest, OpError> {
        use crate::ops::write::WriteRequest;
        Ok(match self {
            Command::Reset {
                account,
                new_password_stdin,
                unlock,
                must_change,
                force,
                clear_2fa,
                from,
                from_backup,
                ..
            } => {
                let flags = crate::ops::write::ResetFlags {
                    unlock: *unlock,
                    must_change: *must_change,
                    force: *force,
                    clear_2fa: *clear_2fa,
                };
                let source = (from, from_backup);
                commands::reset_request(account, flags, source, *new_password_stdin)?
            }
            Command::Unlock { account, .. } => WriteRequest::Unlock {
                account: account.clone(),
            },
            Command::Disable { account, .. } => WriteRequest::Disable {
                account: account.clone(),
            },
            Command::Undo {
                entry, identity, ..
            } => commands::undo_request(*entry, identity),
            Command::RestoreAdmin {
                account, clear_2fa, ..
            } => WriteRequest::RestoreAdmin {
                account: account.clone(),
                clear_2fa: *clear_2fa,
            },
            _ => return Err(OpError::Usage("not a write command".into())),
        })
    }
}

pub async fn run(cli: Cli) -> Result<Report, OpError> {
    let Some(command) = &cli.command else {
        return commands::console(&cli, None).await;
    };
    match command {
        Command::Demo { keep } => commands::console(&cli, Some(keep.as_deref())).await,
        Command::Lookup(args) => commands::lookup(&cli, &args.filter()?).await,
        Command::Show { account } => commands::show(&cli, account).await,
        Command::Offboard(args) => commands::offboard(&cli, args).await,
        Command::Reset { write, .. }
        | Command::Unlock { write, .. }
        | Command::Disable { write, .. }
        | Command::Undo { write, .. }
        | Command::RestoreAdmin { write, .. } => {
            commands::write(&cli, command.write_request()?, write).await
        }
        Command::Calibrate {
            account,
            from_backup,
        } => commands::calibrate(&cli, account, from_backup.as_deref()).await,
        Command::Audit { command } => audit::run(&cli, command).await,
        Command::Status {
            max_open_hours,
            prom_file,
        } => audit::status(&cli, *max_open_hours, prom_file.as_deref()),
        Command::Drill {
            account,
            report,
            format,
            on_copy,
            dormant_days,
        } => {
            let args = commands::DrillArgs {
                account: account.as_deref(),
                report: report.as_deref(),
                format,
                on_copy: on_copy.as_deref(),
                dormant_days: *dormant_days,
            };
            commands::drill(&cli, &args).await
        }
        Command::Check {
            departed: Some(file),
            match_by,
            ..
        } => commands::check_departed(&cli, file, match_by).await,
        Command::Check {
            dormant_days,
            all_accounts,
            prom_file,
            ..
        } => commands::check(&cli, *dormant_days, *all_accounts, prom_file.as_deref()).await,
        Command::Fleet { command } => fleet::run(&cli, command).await,
        Command::Connectors { command } => commands::connectors(&cli, command).await,
        Command::Hash {
            command: HashCommand::Detect { value },
        } => Ok(render::detected(value)),
        Command::Guide { name } => commands::guide(&cli, name.as_deref()),
        Command::Completions { shell } => shell::completions(*shell),
        Command::Man => shell::man(),
    }
}
