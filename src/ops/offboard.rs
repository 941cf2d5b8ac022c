//! Bulk offboarding of departed staff: read HR's list (one account a line,
//! or a CSV export with a header; UTF-8 with or without BOM, else GBK),
//! match each entry by login, email or phone, classify (not found,
//! ambiguous, already disabled, done earlier in this batch, would disable,
//! refused as the last enabled admin), then disable the rest through the
//! write protocol in batches (`protocol::apply_batch`: the intents of a
//! batch durable before any of its UPDATEs). The batch id is derived from
//! the file, the target and the reason, and every intent carries it: a rerun
//! of the same command skips what the journal shows done, and
//! `offboard --undo BATCH` writes back exactly what that batch changed.
//! `check --departed FILE` reports listed accounts that are still enabled.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::account::{self, Account};
use super::plan::{self, Action, Plan, PlanOptions, same_value};
use super::posture::{Finding, Level, Posture};
use super::protocol::{self, Batched};
use super::{OpError, Session};
use crate::backend::Value;
use crate::connector::WriteValue;
use crate::i18n::Said;
use crate::journal::{Entry, EntryKind, Journal, Outcome};

/// Accounts per batch of intents: one durable journal transaction for the
/// intents of a batch, one for their outcomes.
pub const BATCH_SIZE: usize = 500;

/// Which column a listed value is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchBy {
    Login,
    Email,
    Phone,
    /// The login, then the email (a value with `@`), then the phone.
    Auto,
}

impl MatchBy {
    pub fn parse(text: &str) -> Result<MatchBy, OpError> {
        match text {
            "login" => Ok(MatchBy::Login),
            "email" => Ok(MatchBy::Email),
            "phone" => Ok(MatchBy::Phone),
            "auto" => Ok(MatchBy::Auto),
            other => Err(OpError::Usage(Said::key(
                "said.offboard_match",
                &[("value", &other)],
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MatchBy::Login => "login",
            MatchBy::Email => "email",
            MatchBy::Phone => "phone",
            MatchBy::Auto => "auto",
        }
    }
}

/// One entry of the list: a bare value (a plain list) or the login, email
/// and phone cells of a CSV row.
#[derive(Debug, Clone, Default)]
pub struct ListedRow {
    /// 1-based line (plain list) or record number after the header (CSV).
    pub line: usize,
    pub plain: Option<String>,
    pub login: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// HR's list as read.
#[derive(Debug, Clone)]
pub struct ListFile {
    pub path: String,
    /// "utf-8", "utf-8 with BOM" or "gbk".
    pub encoding: &'static str,
    /// "list" (one account a line) or "csv".
    pub format: &'static str,
    pub rows: Vec<ListedRow>,
    /// SHA-256 of the file's bytes (part of the batch id).
    pub digest: String,
}

/// Reads and decodes the list. Not valid UTF-8 is read as GBK (what Excel
/// saves on a Chinese Windows); a file that is neither is refused.
pub fn read_list(path: &std::path::Path) -> Result<ListFile, OpError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        OpError::Usage(Said::key(
            "said.offboard_unreadable",
            &[("file", &shown), ("error", &e)],
        ))
    })?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let (text, encoding) = decode(&bytes)
        .ok_or_else(|| OpError::Usage(Said::key("said.offboard_encoding", &[("file", &shown)])))?;
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let (format, rows) = match first.and_then(delimiter) {
        Some(d) => ("csv", csv_rows(&text, d, &shown)?),
        None => ("list", plain_rows(&text)),
    };
    Ok(ListFile {
        path: shown,
        encoding,
        format,
        rows,
        digest,
    })
}

/// UTF-8 (a BOM is dropped), else GBK without a replacement character.
fn decode(bytes: &[u8]) -> Option<(String, &'static str)> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .ok()
            .map(|t| (t.to_string(), "utf-8 with BOM"));
    }
    if let Ok(t) = std::str::from_utf8(bytes) {
        return Some((t.to_string(), "utf-8"));
    }
    let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(bytes);
    (!had_errors).then(|| (text.into_owned(), "gbk"))
}

/// A header line's delimiter: comma, tab or semicolon (a login has none).
fn delimiter(line: &str) -> Option<u8> {
    [b',', b'\t', b';']
        .into_iter()
        .find(|d| line.as_bytes().contains(d))
}

fn plain_rows(text: &str) -> Vec<ListedRow> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let v = l.trim();
            (!v.is_empty() && !v.starts_with('#')).then(|| ListedRow {
                line: i + 1,
                plain: Some(v.to_string()),
                ..ListedRow::default()
            })
        })
        .collect()
}

/// Which of the three columns a header cell names (English and Chinese HR headers).
fn header_role(cell: &str) -> Option<&'static str> {
    let c = cell.trim().to_lowercase().replace([' ', '_', '-'], "");
    match c.as_str() {
        "login" | "loginname" | "username" | "user" | "account" | "账号" | "帐号" | "用户名"
        | "登录名" | "登录账号" => Some("login"),
        "email" | "mail" | "emailaddress" | "邮箱" | "电子邮件" | "邮件" => Some("email"),
        "phone" | "mobile" | "mobilephone" | "tel" | "telephone" | "手机" | "手机号"
        | "手机号码" | "电话" => Some("phone"),
        _ => None,
    }
}

fn csv_rows(text: &str, delimiter: u8, shown: &str) -> Result<Vec<ListedRow>, OpError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let bad = |e: &dyn std::fmt::Display| {
        OpError::Usage(Said::key(
            "said.offboard_csv",
            &[("file", &shown), ("error", &e)],
        ))
    };
    let headers = reader.headers().map_err(|e| bad(&e))?.clone();
    let roles: Vec<Option<&str>> = headers.iter().map(header_role).collect();
    if roles.iter().all(Option::is_none) {
        let names: Vec<&str> = headers.iter().collect();
        return Err(OpError::Usage(Said::key(
            "said.offboard_no_column",
            &[("file", &shown), ("header", &names.join(", "))],
        )));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(&e))?;
        let mut row = ListedRow {
            line: i + 2,
            ..ListedRow::default()
        };
        for (cell, role) in record.iter().zip(&roles) {
            let value = Some(cell.to_string()).filter(|v| !v.is_empty());
            match role {
                Some("login") if row.login.is_none() => row.login = value,
                Some("email") if row.email.is_none() => row.email = value,
                Some("phone") if row.phone.is_none() => row.phone = value,
                _ => {}
            }
        }
        if row.login.is_some() || row.email.is_some() || row.phone.is_some() {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// What the summary found for one listed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    WouldDisable,
    AlreadyDisabled,
    /// Disabled by an earlier run of this same batch (the journal says so).
    Done,
    NotFound,
    Ambiguous,
    /// The last enabled admin: refused, never disabled.
    LastAdmin,
    /// The account was listed before (another line matched it).
    Duplicate,
}

impl Class {
    pub const ALL: [Class; 7] = [
        Class::WouldDisable,
        Class::AlreadyDisabled,
        Class::Done,
        Class::NotFound,
        Class::Ambiguous,
        Class::LastAdmin,
        Class::Duplicate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::WouldDisable => "would_disable",
            Class::AlreadyDisabled => "already_disabled",
            Class::Done => "done",
            Class::NotFound => "not_found",
            Class::Ambiguous => "ambiguous",
            Class::LastAdmin => "last_admin",
            Class::Duplicate => "duplicate",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub line: usize,
    /// The value looked up.
    pub key: String,
    /// The column it matched in (or was last looked up in).
    pub matched_by: &'static str,
    pub class: Class,
    /// `login (#id)` of the account found.
    pub account: Option<String>,
    pub admin: bool,
    /// Ambiguous: every account the value matched.
    pub candidates: Vec<String>,
    #[serde(skip)]
    pub id: Option<Value>,
}

/// The summary shown before the one confirmation.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub batch: String,
    pub file: String,
    pub encoding: &'static str,
    pub format: &'static str,
    pub match_by: MatchBy,
    pub listed: Vec<Listed>,
    /// Entries per class (every class named, zeros included).
    pub counts: BTreeMap<&'static str, usize>,
    /// Admins among the accounts to disable.
    pub admins: Vec<String>,
    /// Enabled admins before the batch.
    pub enabled_admins: usize,
    /// Where live sessions live: disabling does not end them.
    pub sessions: Option<Said>,
    /// Intents earlier runs left open, settled before the summary.
    pub notes: Vec<String>,
}

impl Summary {
    /// How many accounts the batch disables (the count the operator types).
    pub fn to_disable(&self) -> usize {
        self.counts.get("would_disable").copied().unwrap_or(0)
    }
}

/// The batch id: the file's digest, the target (engine, host, database,
/// connector), the reason and the match mode, hashed. The same command on
/// the same file gives the same id.
pub fn batch_id(s: &Session, digest: &str, reason: &str, by: MatchBy) -> String {
    let p = s.place();
    let mut h = Sha256::new();
    for part in [
        "locksmith-offboard-v1",
        digest,
        &p.engine,
        &p.host,
        &p.database,
        &p.connector,
        reason.trim(),
        by.name(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    format!("ob-{}", &hex::encode(h.finalize())[..16])
}

/// The value of `column` in the row: the mapped field, else `extra`.
fn value_in(a: &Account, column: &str, extra: &HashMap<String, Value>) -> Option<String> {
    a.fields
        .iter()
        .find(|(_, c, _)| c == column)
        .map(|(_, _, v)| v)
        .or_else(|| extra.get(column))
        .and_then(Value::as_text)
}

/// The connector's disabled predicate on this row (columns it does not map
/// are read by primary key).
pub async fn is_disabled(s: &mut Session, a: &Account) -> Result<bool, OpError> {
    let unmapped: Vec<String> = s
        .connector
        .disable
        .when
        .keys()
        .filter(|col| !a.fields.iter().any(|(_, c, _)| c == *col))
        .cloned()
        .collect();
    let mut extra = HashMap::new();
    if !unmapped.is_empty()
        && let Some(values) = account::read_columns(s, &a.id, &unmapped).await?
    {
        extra.extend(unmapped.into_iter().zip(values));
    }
    Ok(s.connector
        .disable
        .is_disabled(|col| value_in(a, col, &extra)))
}

/// Enabled admins: admins neither soft-deleted, nor disabled by the
/// connector's states or `[disable]` predicate.
pub async fn enabled_admins(s: &mut Session) -> Result<Vec<Account>, OpError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let filter = account::LookupFilter {
            admins: true,
            limit: 1000,
            after,
            ..account::LookupFilter::default()
        };
        let page = account::lookup(s, &filter).await?;
        for a in page.accounts {
            let st = a.state(&s.connector);
            if !st.deleted && st.enabled != Some(false) && !is_disabled(s, &a).await? {
                out.push(a);
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// `disable ACCOUNT`: an enabled admin who is the only one left is refused.
pub async fn refuse_last_admin(s: &mut Session, a: &Account) -> Result<(), OpError> {
    if !a.is_admin {
        return Ok(());
    }
    let enabled = enabled_admins(s).await?;
    let mine = enabled.iter().any(|e| same_value(&e.id, &a.id));
    if mine && enabled.len() <= 1 {
        return Err(OpError::Refused(Said::key(
            "said.last_admin",
            &[("account", &a.label())],
        )));
    }
    Ok(())
}

/// The lookups a row makes, in order: (column role, value).
fn lookups(row: &ListedRow, by: MatchBy) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut push = |role: &'static str, v: &Option<String>| {
        if let Some(v) = v {
            out.push((role, v.clone()));
        }
    };
    match (by, &row.plain) {
        (MatchBy::Login, Some(_)) => push("login", &row.plain),
        (MatchBy::Email, Some(_)) => push("email", &row.plain),
        (MatchBy::Phone, Some(_)) => push("phone", &row.plain),
        (MatchBy::Auto, Some(v)) => {
            push("login", &row.plain);
            if v.contains('@') {
                push("email", &row.plain);
            } else {
                push("phone", &row.plain);
            }
        }
        (MatchBy::Login, None) => push("login", &row.login),
        (MatchBy::Email, None) => push("email", &row.email),
        (MatchBy::Phone, None) => push("phone", &row.phone),
        (MatchBy::Auto, None) => {
            push("login", &row.login);
            push("email", &row.email);
            push("phone", &row.phone);
        }
    }
    out
}

/// The connector's column for a match role (None: not mapped).
fn column_for(s: &Session, role: &str) -> Option<String> {
    let c = &s.connector.columns;
    match role {
        "login" => Some(c.login.clone()),
        "email" => c.email.clone(),
        "phone" => c.phone.clone(),
        _ => None,
    }
}

/// Accounts by their exact stored login, for every login the list names,
/// read `BATCH_SIZE` logins a statement (the summary of a large list).
async fn prefetch_logins(
    s: &mut Session,
    list: &ListFile,
    by: MatchBy,
) -> Result<HashMap<String, Vec<Account>>, OpError> {
    let mut logins: Vec<Value> = list
        .rows
        .iter()
        .filter_map(|row| {
            lookups(row, by)
                .into_iter()
                .find(|(role, _)| *role == "login")
        })
        .map(|(_, v)| Value::Text(v))
        .collect();
    logins.dedup();
    let column = s.connector.columns.login.clone();
    let mut found: HashMap<String, Vec<Account>> = HashMap::new();
    for chunk in logins.chunks(BATCH_SIZE) {
        for a in account::find_in(s, &column, chunk).await? {
            found.entry(a.login.clone()).or_default().push(a);
        }
    }
    Ok(found)
}

/// Accounts whose `role` column equals `value` exactly (logins with their
/// case, emails without); the first lookup that finds any decides. Logins
/// come from `by_login` when the caller read them ahead.
async fn find_row(
    s: &mut Session,
    row: &ListedRow,
    by: MatchBy,
    by_login: Option<&HashMap<String, Vec<Account>>>,
) -> Result<(String, &'static str, Vec<Account>), OpError> {
    let tries = lookups(row, by);
    let mut last = ("", String::new());
    for (role, value) in tries {
        if let (Some(map), "login") = (by_login, role) {
            match map.get(&value) {
                Some(found) => return Ok((value, role, found.clone())),
                None => {
                    last = (role, value);
                    continue;
                }
            }
        }
        let Some(column) = column_for(s, role) else {
            if by != MatchBy::Auto {
                return Err(OpError::Usage(Said::key(
                    "said.offboard_unmapped_match",
                    &[("vendor", &s.connector.title), ("column", &role)],
                )));
            }
            continue;
        };
        let found = account::find_exact(s, &column, &value).await?;
        let exact: Vec<Account> = found
            .into_iter()
            .filter(|a| {
                let stored = value_in(a, &column, &HashMap::new()).unwrap_or_default();
                match role {
                    "email" => stored.trim().eq_ignore_ascii_case(&value),
                    "phone" => stored.trim() == value,
                    _ => stored == value,
                }
            })
            .collect();
        if !exact.is_empty() {
            return Ok((value, role, exact));
        }
        last = (role, value);
    }
    Ok((last.1, last.0, Vec::new()))
}

/// The batch's intents in the journal, each with whether it is known to be
/// committed (its outcome, or a reconcile that found it applied).
pub fn batch_intents(j: &mut Journal, batch: &str) -> Result<Vec<(Entry, bool)>, OpError> {
    let intents: Vec<Entry> = j
        .of_kind(EntryKind::Intent)
        .map_err(OpError::Journal)?
        .into_iter()
        .filter(|e| e.entry.details["batch"].as_str() == Some(batch))
        .collect();
    let ids: HashSet<i64> = intents.iter().map(|e| e.id).collect();
    let mut committed = HashSet::new();
    for kind in [EntryKind::Outcome, EntryKind::Reconcile] {
        for e in j.of_kind(kind).map_err(OpError::Journal)? {
            if let Some(r) = e.entry.refers_to.filter(|r| ids.contains(r))
                && e.entry.outcome == Some(Outcome::Committed)
            {
                committed.insert(r);
            }
        }
    }
    Ok(intents
        .into_iter()
        .map(|e| {
            let done = committed.contains(&e.id);
            (e, done)
        })
        .collect())
}

/// Primary keys (as text) the batch committed, with their intent entry.
fn done_keys(j: Option<&mut Journal>, batch: &str) -> Result<HashMap<String, i64>, OpError> {
    let Some(j) = j else {
        return Ok(HashMap::new());
    };
    Ok(batch_intents(j, batch)?
        .into_iter()
        .filter(|(_, done)| *done)
        .filter_map(|(e, _)| Some((e.entry.details["pk"]["value"].as_str()?.to_string(), e.id)))
        .collect())
}

/// The summary: settle open intents (a real run), match every entry,
/// classify, and refuse the last enabled admin.
pub async fn prepare(
    s: &mut Session,
    mut journal: Option<&mut Journal>,
    list: &ListFile,
    by: MatchBy,
    reason: &str,
    dry_run: bool,
) -> Result<Summary, OpError> {
    s.refuse_if_read_only("offboarding")?;
    plan::refuse_disable_unmapped(s)?;
    let mut notes = Vec::new();
    if !dry_run && let Some(j) = journal.as_deref_mut() {
        for r in protocol::reconcile(s, j).await? {
            notes.push(r.note());
        }
    }
    let batch = batch_id(s, &list.digest, reason, by);
    let done = done_keys(journal, &batch)?;
    let by_login = prefetch_logins(s, list, by).await?;
    let mut listed = Vec::with_capacity(list.rows.len());
    let mut seen = HashSet::new();
    for row in &list.rows {
        listed.push(classify(s, row, by, &by_login, &done, &mut seen).await?);
    }
    let enabled = enabled_admins(s).await?;
    let admins = keep_one_admin(&mut listed, &enabled);
    let mut counts: BTreeMap<&'static str, usize> =
        Class::ALL.iter().map(|c| (c.name(), 0)).collect();
    for l in &listed {
        *counts.entry(l.class.name()).or_default() += 1;
    }
    Ok(Summary {
        batch,
        file: list.path.clone(),
        encoding: list.encoding,
        format: list.format,
        match_by: by,
        listed,
        counts,
        admins,
        enabled_admins: enabled.len(),
        sessions: plan::sessions_warning(&s.connector),
        notes,
    })
}

async fn classify(
    s: &mut Session,
    row: &ListedRow,
    by: MatchBy,
    by_login: &HashMap<String, Vec<Account>>,
    done: &HashMap<String, i64>,
    seen: &mut HashSet<String>,
) -> Result<Listed, OpError> {
    let (key, matched_by, found) = find_row(s, row, by, Some(by_login)).await?;
    let mut l = Listed {
        line: row.line,
        key,
        matched_by,
        class: Class::NotFound,
        account: None,
        admin: false,
        candidates: Vec::new(),
        id: None,
    };
    match found.as_slice() {
        [] => {}
        [a] => {
            l.account = Some(a.label());
            l.admin = a.is_admin;
            l.id = Some(a.id.clone());
            let pk = a.id_text();
            l.class = if !seen.insert(pk.clone()) {
                Class::Duplicate
            } else if done.contains_key(&pk) {
                Class::Done
            } else if is_disabled(s, a).await? {
                Class::AlreadyDisabled
            } else {
                Class::WouldDisable
            };
        }
        many => {
            l.class = Class::Ambiguous;
            l.candidates = many.iter().map(Account::label).collect();
        }
    }
    Ok(l)
}

/// Admins to disable, in list order, while another enabled admin is left;
/// the one that would be the last is refused (`LastAdmin`). Returns the
/// admins the batch disables.
fn keep_one_admin(listed: &mut [Listed], enabled: &[Account]) -> Vec<String> {
    let mut left = enabled.len();
    let mut admins = Vec::new();
    for l in listed.iter_mut().filter(|l| l.class == Class::WouldDisable) {
        let Some(id) = &l.id else { continue };
        if !enabled.iter().any(|e| same_value(&e.id, id)) {
            if l.admin {
                admins.extend(l.account.clone());
            }
            continue;
        }
        if left <= 1 {
            l.class = Class::LastAdmin;
            continue;
        }
        left -= 1;
        admins.extend(l.account.clone());
    }
    admins
}

/// One account the run wrote, or could not.
#[derive(Debug, Clone, Serialize)]
pub struct RunItem {
    pub account: String,
    /// "disabled" / "enabled", "skipped" (nothing to change any more), or "failed".
    pub result: &'static str,
    pub intent: Option<i64>,
    pub outcome: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub batch: String,
    pub items: Vec<RunItem>,
    pub written: usize,
    pub failed: usize,
    pub seconds: f64,
}

/// One account to write: its key, and for a re-enable the values to put back.
struct Job {
    id: Value,
    label: String,
    restore: Option<BTreeMap<String, WriteValue>>,
    details: serde_json::Map<String, serde_json::Value>,
}

/// Disables the summary's `would_disable` accounts, `BATCH_SIZE` at a
/// time, through `protocol::apply_batch`. `progress(done, total)` after each batch.
pub async fn run(
    s: &mut Session,
    j: &mut Journal,
    summary: &Summary,
    reason: &str,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RunReport, OpError> {
    let jobs: Vec<Job> = summary
        .listed
        .iter()
        .filter(|l| l.class == Class::WouldDisable)
        .filter_map(|l| {
            Some(Job {
                id: l.id.clone()?,
                label: l.account.clone().unwrap_or_default(),
                restore: None,
                details: serde_json::Map::new(),
            })
        })
        .collect();
    write_jobs(s, j, &summary.batch, jobs, reason, progress).await
}

/// Plans and applies the jobs in batches; the intents record the batch id
/// and the plain values they replace (status values, never secrets).
async fn write_jobs(
    s: &mut Session,
    j: &mut Journal,
    batch: &str,
    jobs: Vec<Job>,
    reason: &str,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RunReport, OpError> {
    let started = std::time::Instant::now();
    let transactional = s.backend.transactional(&s.connector.table_name()).await?;
    let total = jobs.len();
    let mut items = Vec::with_capacity(total);
    for chunk in jobs.chunks(BATCH_SIZE) {
        // Step 1 for the whole batch: the before-images, by primary key, in one statement.
        let ids: Vec<Value> = chunk.iter().map(|j| j.id.clone()).collect();
        let mut images: HashMap<String, Account> = account::read_by_pks(s, &ids)
            .await?
            .into_iter()
            .map(|a| (a.id_text(), a))
            .collect();
        let mut plans: Vec<(Plan, serde_json::Map<String, serde_json::Value>)> = Vec::new();
        for job in chunk {
            let key = job.id.as_text().unwrap_or_default();
            let Some(image) = images.remove(&key) else {
                let gone = format!("{} is gone (no row with this key any more)", job.label);
                items.push(item(&job.label, "failed", Some(gone)));
                continue;
            };
            // The summary kept one enabled admin; checked again now, in case
            // another session disabled admins meanwhile.
            if job.restore.is_none()
                && image.is_admin
                && let Err(e) = refuse_last_admin(s, &image).await
            {
                items.push(item(&job.label, "failed", Some(e.to_string())));
                continue;
            }
            match plan_job(s, job, image, transactional).await {
                Ok(p) if p.nothing_to_do() => items.push(item(&job.label, "skipped", None)),
                Ok(p) => {
                    let mut details = job.details.clone();
                    details.insert("batch".into(), json!(batch));
                    details.insert("restore".into(), plain_values(&p, true));
                    details.insert("wrote".into(), plain_values(&p, false));
                    plans.push((p, details));
                }
                Err(e) => items.push(item(&job.label, "failed", Some(e.to_string()))),
            }
        }
        let batched: Vec<Batched<'_>> = plans
            .iter()
            .map(|(plan, details)| Batched {
                plan,
                details: details.clone(),
            })
            .collect();
        let results = protocol::apply_batch(s, j, &batched, reason).await?;
        for ((p, _), r) in plans.iter().zip(results) {
            let label = p.account.label();
            items.push(match r {
                Ok(a) => RunItem {
                    account: label,
                    result: p.action.name_past(),
                    intent: Some(a.intent_entry),
                    outcome: Some(a.outcome_entry),
                    error: None,
                },
                Err(e) => item(&label, "failed", Some(e.to_string())),
            });
        }
        progress(items.len(), total);
    }
    let written = items.iter().filter(|i| i.intent.is_some()).count();
    let failed = items.iter().filter(|i| i.result == "failed").count();
    Ok(RunReport {
        batch: batch.to_string(),
        items,
        written,
        failed,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn item(account: &str, result: &'static str, error: Option<String>) -> RunItem {
    RunItem {
        account: account.to_string(),
        result,
        intent: None,
        outcome: None,
        error,
    }
}

async fn plan_job(
    s: &mut Session,
    job: &Job,
    before: Account,
    transactional: bool,
) -> Result<Plan, OpError> {
    let reference = format!("#{}", before.id_text());
    let mut opts = PlanOptions {
        transactional: Some(transactional),
        before: Some(before),
        ..PlanOptions::default()
    };
    let action = match &job.restore {
        Some(values) => {
            opts.extra = values.clone();
            Action::Enable
        }
        None => Action::Disable,
    };
    plan::build(s, &reference, action, None, &opts).await
}

/// The plan's before- (or after-) values, as plain text: the status columns
/// a disable writes hold no secret.
fn plain_values(p: &Plan, before: bool) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = p
        .changes
        .iter()
        .filter(|c| !c.secret)
        .map(|c| {
            let v = if before { &c.before } else { &c.after };
            (c.column.clone(), json!(v.as_text()))
        })
        .collect();
    serde_json::Value::Object(map)
}

/// A stored value back as a connector write: NULL as `@null`, a leading `@` escaped.
fn as_write(v: &serde_json::Value) -> WriteValue {
    match v.as_str() {
        None => WriteValue::Text("@null".into()),
        Some(t) if t.starts_with('@') => WriteValue::Text(format!("@{t}")),
        Some(t) => WriteValue::Text(t.to_string()),
    }
}

/// One account an undo looks at.
#[derive(Debug, Clone, Serialize)]
pub struct UndoListed {
    pub account: String,
    /// The disable's intent entry.
    pub intent: i64,
    /// "would_enable", "done" (an earlier run of this undo), "changed_since"
    /// (the row no longer holds what the batch wrote: left alone), "row_missing".
    pub class: &'static str,
    #[serde(skip)]
    id: Value,
    #[serde(skip)]
    restore: BTreeMap<String, WriteValue>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UndoSummary {
    /// The batch being undone.
    pub batch: String,
    /// The undo's own batch id (its intents carry it; a rerun skips what it did).
    pub undo_batch: String,
    pub listed: Vec<UndoListed>,
    pub counts: BTreeMap<&'static str, usize>,
    pub notes: Vec<String>,
}

impl UndoSummary {
    pub fn to_enable(&self) -> usize {
        self.counts.get("would_enable").copied().unwrap_or(0)
    }
}

/// What `offboard --undo BATCH` would write back: every account the batch
/// committed whose row still holds exactly what the batch wrote.
pub async fn prepare_undo(
    s: &mut Session,
    j: &mut Journal,
    batch: &str,
    dry_run: bool,
) -> Result<UndoSummary, OpError> {
    s.refuse_if_read_only("an offboarding undo")?;
    let mut notes = Vec::new();
    if !dry_run {
        for r in protocol::reconcile(s, j).await? {
            notes.push(r.note());
        }
    }
    let place = s.place();
    let disabled: Vec<Entry> = batch_intents(j, batch)?
        .into_iter()
        .filter(|(e, done)| *done && e.entry.action == "disable" && e.entry.place == place)
        .map(|(e, _)| e)
        .collect();
    if disabled.is_empty() {
        return Err(OpError::NotFound(Said::key(
            "said.offboard_no_batch",
            &[("batch", &batch), ("target", &s.target)],
        )));
    }
    let undo_batch = format!("undo-{batch}");
    let undone = done_keys(Some(j), &undo_batch)?;
    let mut listed = Vec::with_capacity(disabled.len());
    for e in disabled {
        listed.push(undo_class(s, &e, &undone).await?);
    }
    let mut counts: BTreeMap<&'static str, usize> =
        ["would_enable", "done", "changed_since", "row_missing"]
            .into_iter()
            .map(|c| (c, 0))
            .collect();
    for l in &listed {
        *counts.entry(l.class).or_default() += 1;
    }
    Ok(UndoSummary {
        batch: batch.to_string(),
        undo_batch,
        listed,
        counts,
        notes,
    })
}

async fn undo_class(
    s: &mut Session,
    e: &Entry,
    undone: &HashMap<String, i64>,
) -> Result<UndoListed, OpError> {
    let d = &e.entry.details;
    let pk = d["pk"]["value"].as_str().unwrap_or_default().to_string();
    let wrote = d["wrote"].as_object().cloned().unwrap_or_default();
    let restore: BTreeMap<String, WriteValue> = d["restore"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), as_write(v))).collect())
        .unwrap_or_default();
    let columns: Vec<String> = wrote.keys().cloned().collect();
    let id = Value::Text(pk.clone());
    let current = account::read_columns(s, &id, &columns).await?;
    let class = match current {
        _ if undone.contains_key(&pk) => "done",
        None => "row_missing",
        Some(values) => {
            let same = columns.iter().zip(&values).all(|(col, v)| {
                let wrote = wrote.get(col).and_then(|w| w.as_str().map(String::from));
                v.as_text() == wrote
            });
            if same {
                "would_enable"
            } else {
                "changed_since"
            }
        }
    };
    Ok(UndoListed {
        account: e.entry.account.clone().unwrap_or_default(),
        intent: e.id,
        class,
        id,
        restore,
    })
}

/// Writes back what the batch replaced, through the same batched protocol.
pub async fn run_undo(
    s: &mut Session,
    j: &mut Journal,
    summary: &UndoSummary,
    reason: &str,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RunReport, OpError> {
    let jobs = summary
        .listed
        .iter()
        .filter(|l| l.class == "would_enable")
        .map(|l| {
            let mut details = serde_json::Map::new();
            details.insert("undoes".into(), json!(l.intent));
            Job {
                id: l.id.clone(),
                label: l.account.clone(),
                restore: Some(l.restore.clone()),
                details,
            }
        })
        .collect();
    write_jobs(s, j, &summary.undo_batch, jobs, reason, progress).await
}

/// `check --departed FILE`: every listed account still enabled fails the
/// check (exit 8); entries not found or ambiguous are warnings.
pub async fn departed(s: &mut Session, list: &ListFile, by: MatchBy) -> Result<Posture, OpError> {
    let mut enabled = Vec::new();
    let mut unmatched = Vec::new();
    let mut checked = 0;
    for row in &list.rows {
        let (key, _, found) = find_row(s, row, by, None).await?;
        match found.as_slice() {
            [a] => {
                checked += 1;
                let st = a.state(&s.connector);
                let off = st.deleted || st.enabled == Some(false) || is_disabled(s, a).await?;
                if !off {
                    enabled.push(a.label());
                }
            }
            [] => unmatched.push(format!("{key} (not found)")),
            many => unmatched.push(format!("{key} (ambiguous: {} accounts)", many.len())),
        }
    }
    let mut findings = vec![match enabled.is_empty() {
        true => Finding {
            check: "departed",
            level: Level::Ok,
            message: format!("every listed account found is disabled ({checked})"),
            accounts: Vec::new(),
        },
        false => Finding {
            check: "departed",
            level: Level::Fail,
            message: format!(
                "{} listed departed account(s) still enabled: run `locksmith offboard --from {}`",
                enabled.len(),
                list.path
            ),
            accounts: enabled,
        },
    }];
    if !unmatched.is_empty() {
        findings.push(Finding {
            check: "departed_unmatched",
            level: Level::Warn,
            message: format!("{} listed entries match no single account", unmatched.len()),
            accounts: unmatched,
        });
    }
    let ok = findings.iter().all(|f| f.level != Level::Fail);
    Ok(Posture {
        connector: s.connector.name.clone(),
        accounts_checked: checked,
        defaults_checked: 0,
        all_accounts: false,
        // Only the departed list was checked: no admin or default-password count.
        enabled_admins: 0,
        default_password_accounts: 0,
        findings,
        ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_is_read_when_the_file_is_not_utf8() {
        let (bytes, _, _) = encoding_rs::GBK.encode("张三\n李四\n");
        let (text, enc) = decode(&bytes).unwrap();
        assert_eq!(enc, "gbk");
        assert_eq!(text, "张三\n李四\n");
        let (text, enc) = decode("\u{feff}a,b\n".as_bytes()).unwrap();
        assert_eq!((text.as_str(), enc), ("a,b\n", "utf-8 with BOM"));
        assert_eq!(decode(b"ry\n").unwrap().1, "utf-8");
        // Not GBK either: refused rather than guessed.
        assert!(decode(b"\xff\xff\xff").is_none());
    }

    #[test]
    fn csv_headers_in_english_and_chinese_name_the_columns() {
        let rows = csv_rows(
            "姓名,账号,邮箱\n\"Zhang, San\",zs,zs@x.cn\n李四,,ls@x.cn\n",
            b',',
            "f",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].login.as_deref(), Some("zs"));
        assert_eq!(rows[1].login, None);
        assert_eq!(rows[1].email.as_deref(), Some("ls@x.cn"));
        assert_eq!(
            lookups(&rows[1], MatchBy::Auto),
            vec![("email", "ls@x.cn".to_string())]
        );
        assert!(csv_rows("name,dept\na,b\n", b',', "f").is_err());
    }

    #[test]
    fn plain_lists_skip_blanks_and_comments() {
        let rows = plain_rows("# HR 2026-11\nry\n\n  13800000001  \n");
        let values: Vec<_> = rows
            .iter()
            .map(|r| (r.line, r.plain.clone().unwrap()))
            .collect();
        assert_eq!(values, vec![(2, "ry".into()), (4, "13800000001".into())]);
        assert_eq!(
            lookups(&rows[1], MatchBy::Auto),
            vec![
                ("login", "13800000001".into()),
                ("phone", "13800000001".into())
            ]
        );
    }
}
