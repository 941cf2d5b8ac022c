//! `check`: the access posture of a target, without printing any password.
//! Failing checks: fewer than two enabled admins, the emergency admin
//! unhealthy, accounts on one of the vendor's default passwords, stored
//! values in an older (weaker) format than the vendor writes now.
//! Warnings (reported, not failing): admins disabled, soft-deleted or
//! dormant (where the connector maps a last-login column).

use chrono::NaiveDateTime;
use serde::Serialize;

use super::account::{Account, LookupFilter, lookup};
use super::{OpError, Session, emergency};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::connector::Connector;
use crate::schemes::Scheme;
use crate::secret::Password;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// admins | emergency_admin | default_passwords | empty_password | legacy_format | admins_disabled | admins_dormant
    pub check: &'static str,
    pub level: Level,
    pub message: String,
    /// Accounts concerned, as `login (#id)`.
    pub accounts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Posture {
    pub connector: String,
    pub accounts_checked: usize,
    /// Accounts verified against the default passwords: the admins and the
    /// emergency admin, or every account with `all_accounts`.
    pub defaults_checked: usize,
    pub all_accounts: bool,
    /// Admins that are enabled, not deleted, unlocked (with full access where kept).
    pub enabled_admins: usize,
    /// Accounts found on one of the connector's default passwords.
    pub default_password_accounts: usize,
    pub findings: Vec<Finding>,
    /// No finding failed.
    pub ok: bool,
}

/// The default-password survey as it runs, for a progress display (the
/// library never prints: the caller renders these).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SurveyProgress {
    /// Before the bulk of the work: accounts to verify, threads used, and the
    /// time it should take (measured on the first account).
    Estimate {
        accounts: usize,
        threads: usize,
        seconds: f64,
    },
    /// Accounts verified so far (called from the worker threads).
    Checked { done: usize, total: usize },
}

/// How `check` runs.
pub struct CheckOptions<'a> {
    /// An admin who has not logged in for longer is reported as dormant.
    pub dormant_days: i64,
    /// Verify every account against the default passwords, not only the
    /// admins and the emergency admin (slow with bcrypt: spread across cores).
    pub all_accounts: bool,
    pub progress: Option<&'a (dyn Fn(SurveyProgress) + Sync)>,
}

fn finding(check: &'static str, level: Level, message: String, accounts: Vec<String>) -> Finding {
    Finding {
        check,
        level,
        message,
        accounts,
    }
}

/// Every account, a page at a time.
async fn all_accounts(s: &mut Session, admins: bool) -> Result<Vec<Account>, OpError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = lookup(
            s,
            &LookupFilter {
                admins,
                limit: 1000,
                after,
                ..LookupFilter::default()
            },
        )
        .await?;
        out.extend(page.accounts);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

fn parse_time(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
}

/// Runs every check; the default passwords are tried on the admins and the
/// emergency admin only. `dormant_days`: an admin who has not logged in for
/// longer is reported as dormant.
pub async fn check(s: &mut Session, dormant_days: i64) -> Result<Posture, OpError> {
    let opts = CheckOptions {
        dormant_days,
        all_accounts: false,
        progress: None,
    };
    check_with(s, &opts).await
}

/// Runs every check as `opts` says.
pub async fn check_with(s: &mut Session, opts: &CheckOptions<'_>) -> Result<Posture, OpError> {
    let c = s.connector.clone();
    let dormant_days = opts.dormant_days;

    // 1. At least two enabled admins (emergency-access practice: two or more).
    let admins = all_accounts(s, true).await?;
    let usable: Vec<&Account> = admins
        .iter()
        .filter(|a| {
            let st = a.state(&c);
            !st.deleted
                && st.enabled != Some(false)
                && st.locked != Some(true)
                && a.full_access(&c) != Some(false)
        })
        .collect();
    let enabled_admins = usable.len();
    let mut findings = vec![admin_count_finding(&c, &usable)];

    // 2. The emergency admin is healthy.
    findings.push(emergency_admin_finding(s).await?);

    // 3. and 4. Default passwords (each account with its own salt) and older formats.
    let accounts = all_accounts(s, false).await?;
    let survey = survey_passwords(s, &accounts, opts);
    let defaults_checked = survey.verified;
    let unchecked = survey.unchecked;
    let default_password_accounts = survey.on_default.len();
    findings.push(default_passwords_finding(
        &c,
        survey.on_default,
        defaults_checked,
        unchecked,
    ));
    if !survey.empty.is_empty() {
        findings.push(empty_password_finding(&c, survey.empty));
    }
    findings.push(legacy_format_finding(s, survey.legacy));

    // 5. Admins disabled or deleted, and dormant admins where a last-login column exists.
    findings.push(disabled_admins_finding(&c, &admins));
    if c.columns.last_login.is_some() {
        findings.push(dormant_admins_finding(s, &usable, dormant_days).await?);
    }
    let ok = findings.iter().all(|f| f.level != Level::Fail);
    Ok(Posture {
        connector: c.name.clone(),
        accounts_checked: accounts.len(),
        defaults_checked,
        all_accounts: opts.all_accounts,
        enabled_admins,
        default_password_accounts,
        findings,
        ok,
    })
}

fn admin_count_finding(c: &Connector, usable: &[&Account]) -> Finding {
    let names: Vec<String> = usable.iter().map(|a| a.label()).collect();
    // Where the access kind is kept (Dynamics' AccessMode), only full access counts.
    let full = c
        .columns
        .access
        .as_ref()
        .map(|col| {
            format!(
                " with full access ({col} = {})",
                c.states.full_access.join(" / ")
            )
        })
        .unwrap_or_default();
    if usable.len() < 2 {
        finding(
            "admins",
            Level::Fail,
            format!(
                "{} enabled admin(s){full}; keep at least two so one lockout does not lock everyone out",
                usable.len()
            ),
            names,
        )
    } else {
        finding(
            "admins",
            Level::Ok,
            format!("{} enabled admins{full}", usable.len()),
            names,
        )
    }
}

async fn emergency_admin_finding(s: &mut Session) -> Result<Finding, OpError> {
    if !s.connector.emergency.declared() {
        return Ok(finding(
            "emergency_admin",
            Level::Warn,
            format!(
                "connector `{}` declares no emergency admin ([emergency])",
                s.connector.name
            ),
            Vec::new(),
        ));
    }
    let d = emergency::locate(s, None).await?;
    Ok(if d.healthy() {
        finding(
            "emergency_admin",
            Level::Ok,
            "the emergency admin exists, is enabled, not deleted, unlocked and linked to the admin role".into(),
            vec![d.label()],
        )
    } else {
        finding(
            "emergency_admin",
            Level::Fail,
            format!(
                "the emergency admin is unhealthy: {}; `locksmith restore-admin` fixes it",
                d.problems
                    .iter()
                    .map(|p| p.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            vec![d.label()],
        )
    })
}

/// Accounts (soft-deleted ones left out) by what their stored value says.
struct PasswordSurvey {
    /// Verified against one of the connector's default passwords.
    on_default: Vec<String>,
    /// In an older format, with that format's id.
    legacy: Vec<String>,
    /// NULL or blank.
    empty: Vec<String>,
    /// Accounts tried against the default passwords.
    verified: usize,
    /// Accounts with a verifiable value left out (not admins, no --all-accounts).
    unchecked: usize,
}

/// One account to try against the default passwords, with its scheme.
struct Job<'a> {
    account: &'a Account,
    scheme: &'a dyn Scheme,
    stored: String,
}

/// Admins and the emergency admin are always tried (they are what an
/// attacker tries first); the others only with `all_accounts`.
fn always_tried(c: &Connector, a: &Account) -> bool {
    a.is_admin
        || c.emergency.id.as_deref() == Some(a.id_text().as_str())
        || (c.emergency.id.is_none() && c.emergency.login.as_deref() == Some(a.login.as_str()))
}

fn survey_passwords(s: &Session, accounts: &[Account], opts: &CheckOptions<'_>) -> PasswordSurvey {
    let c = &s.connector;
    let mut survey = PasswordSurvey {
        on_default: Vec::new(),
        legacy: Vec::new(),
        empty: Vec::new(),
        verified: 0,
        unchecked: 0,
    };
    if !c.keeps_password() {
        // The passwords live in the directory: nothing here to survey.
        return survey;
    }
    let mut jobs = Vec::new();
    for a in accounts.iter().filter(|a| !a.state(c).deleted) {
        let stored = a.stored_password();
        if stored.trim().is_empty() {
            survey.empty.push(a.label());
            continue;
        }
        if let Some(older) = s.older_format(&stored) {
            survey
                .legacy
                .push(format!("{} ({})", a.label(), older.id()));
        }
        let scheme = s.scheme_for(&stored);
        if !scheme.has_shape(&stored) {
            continue;
        }
        if opts.all_accounts || always_tried(c, a) {
            jobs.push(Job {
                account: a,
                scheme,
                stored,
            });
        } else {
            survey.unchecked += 1;
        }
    }
    let defaults: Vec<Password> = c
        .default_passwords
        .iter()
        .map(|p| Password::new(p.clone()))
        .collect();
    survey.verified = jobs.len();
    if !defaults.is_empty() {
        let hits = verify_defaults(&jobs, &defaults, opts.progress);
        survey.on_default = jobs
            .iter()
            .zip(hits)
            .filter(|(_, hit)| *hit)
            .map(|(j, _)| j.account.label())
            .collect();
    }
    survey
}

/// Whether the account's value verifies with one of the default passwords.
fn on_a_default(job: &Job<'_>, defaults: &[Password]) -> bool {
    defaults.iter().any(|pw| {
        job.account
            .with_input(|input| job.scheme.verify(pw, input, &job.stored))
            .unwrap_or(false)
    })
}

/// `on_a_default` for every job, spread over the machine's cores (bcrypt and
/// PBKDF2 are slow on purpose); the first job is timed for the estimate.
fn verify_defaults(
    jobs: &[Job<'_>],
    defaults: &[Password],
    progress: Option<&(dyn Fn(SurveyProgress) + Sync)>,
) -> Vec<bool> {
    let Some(first) = jobs.first() else {
        return Vec::new();
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, jobs.len());
    let started = std::time::Instant::now();
    let first_hit = on_a_default(first, defaults);
    let rest = &jobs[1..];
    let report = |p: SurveyProgress| {
        if let Some(f) = progress {
            f(p);
        }
    };
    report(SurveyProgress::Estimate {
        accounts: jobs.len(),
        threads,
        seconds: started.elapsed().as_secs_f64() * rest.len() as f64 / threads as f64,
    });
    let done = AtomicUsize::new(1);
    let total = jobs.len();
    report(SurveyProgress::Checked { done: 1, total });
    let mut hits = vec![false; total];
    hits[0] = first_hit;
    let chunk = rest.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = rest
            .chunks(chunk)
            .map(|part| {
                let (done, report) = (&done, &report);
                scope.spawn(move || {
                    part.iter()
                        .map(|job| {
                            let hit = on_a_default(job, defaults);
                            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                            report(SurveyProgress::Checked { done: n, total });
                            hit
                        })
                        .collect::<Vec<bool>>()
                })
            })
            .collect();
        let mut at = 1;
        for w in workers {
            // A panicking verifier is a bug; its accounts count as not on a default.
            let part = w.join().unwrap_or_default();
            for (k, hit) in part.into_iter().enumerate() {
                hits[at + k] = hit;
            }
            at += chunk;
        }
    });
    hits
}

fn default_passwords_finding(
    c: &Connector,
    on_default: Vec<String>,
    verified: usize,
    unchecked: usize,
) -> Finding {
    let scope = if unchecked == 0 {
        format!("{verified} account(s) tried")
    } else {
        format!(
            "{verified} admin account(s) tried; {unchecked} other account(s) not tried: pass --all-accounts"
        )
    };
    let mut f = default_passwords_verdict(c, on_default);
    if !c.default_passwords.is_empty() {
        f.message = format!("{} ({scope})", f.message);
    }
    f
}

fn default_passwords_verdict(c: &Connector, on_default: Vec<String>) -> Finding {
    if c.default_passwords.is_empty() {
        finding(
            "default_passwords",
            Level::Ok,
            format!("connector `{}` lists no default passwords", c.name),
            Vec::new(),
        )
    } else if on_default.is_empty() {
        finding(
            "default_passwords",
            Level::Ok,
            format!(
                "no account uses one of the {} default password(s) the connector lists",
                c.default_passwords.len()
            ),
            Vec::new(),
        )
    } else {
        finding(
            "default_passwords",
            Level::Fail,
            format!(
                "{} account(s) still use a default password of {}; reset them",
                on_default.len(),
                c.title
            ),
            on_default,
        )
    }
}

fn empty_password_finding(c: &Connector, empty: Vec<String>) -> Finding {
    // Whether the vendor then accepts an empty password or no login at
    // all differs per vendor (and is unknown for closed formats): say so.
    finding(
        "empty_password",
        Level::Warn,
        format!(
            "{} account(s) have no stored password (NULL or empty); depending on {} that may mean a login with an empty password or none at all — check, then reset or disable them",
            empty.len(),
            c.title
        ),
        empty,
    )
}

fn legacy_format_finding(s: &Session, legacy: Vec<String>) -> Finding {
    if legacy.is_empty() {
        finding(
            "legacy_format",
            Level::Ok,
            format!(
                "every stored value has the current format {}",
                s.scheme.id()
            ),
            Vec::new(),
        )
    } else {
        finding(
            "legacy_format",
            Level::Fail,
            format!(
                "{} account(s) keep a value in an older, weaker format than {} writes now ({}); a reset replaces it",
                legacy.len(),
                s.connector.title,
                s.scheme.id()
            ),
            legacy,
        )
    }
}

fn disabled_admins_finding(c: &Connector, admins: &[Account]) -> Finding {
    let disabled: Vec<String> = admins
        .iter()
        .filter(|a| {
            let st = a.state(c);
            st.deleted || st.enabled == Some(false)
        })
        .map(|a| a.label())
        .collect();
    finding(
        "admins_disabled",
        if disabled.is_empty() {
            Level::Ok
        } else {
            Level::Warn
        },
        format!("{} admin(s) disabled or soft-deleted", disabled.len()),
        disabled,
    )
}

/// Usable admins whose last login (by the database's clock) is older than `dormant_days`.
async fn dormant_admins_finding(
    s: &mut Session,
    usable: &[&Account],
    dormant_days: i64,
) -> Result<Finding, OpError> {
    let now = s.backend.now().await?;
    let limit = chrono::Duration::days(dormant_days);
    let dormant: Vec<String> = usable
        .iter()
        .filter_map(
            |a| match a.text("last_login").as_deref().and_then(parse_time) {
                None => Some(format!("{} (never logged in)", a.label())),
                Some(t) if now - t > limit => Some(format!(
                    "{} (last login {})",
                    a.label(),
                    t.format("%Y-%m-%d")
                )),
                Some(_) => None,
            },
        )
        .collect();
    Ok(finding(
        "admins_dormant",
        if dormant.is_empty() {
            Level::Ok
        } else {
            Level::Warn
        },
        format!(
            "{} enabled admin(s) without a login in the last {dormant_days} days",
            dormant.len()
        ),
        dormant,
    ))
}
