//! Plans: the exact guarded UPDATE a write will run, with before/after
//! fingerprints and warnings, built before anything is touched.

use serde::Serialize;

use super::account::{Account, read_by_pk, resolve};
use super::backup::{BackupIdentity, BackupRow};
use super::sql::Stmt;
use super::{OpError, Session};
use crate::backend::Value;
use crate::i18n::Said;
use std::collections::BTreeMap;

use crate::connector::{Connector, WriteSpec, WriteValue};
use crate::secret::Password;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Reset,
    Unlock,
    /// Restore the emergency admin (break-glass): several guarded statements.
    RestoreAdmin,
    /// The connector's `[disable]` writes (`disable`, `offboard`).
    Disable,
    /// Write back the values a disable replaced (`offboard --undo`).
    Enable,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Reset => "reset",
            Action::Unlock => "unlock",
            Action::RestoreAdmin => "restore-admin",
            Action::Disable => "disable",
            Action::Enable => "enable",
        }
    }

    /// What was done, for a batch's report ("disabled").
    pub fn name_past(self) -> &'static str {
        match self {
            Action::Reset => "reset",
            Action::Unlock => "unlocked",
            Action::RestoreAdmin => "restored",
            Action::Disable => "disabled",
            Action::Enable => "enabled",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub unlock: bool,
    pub must_change: bool,
    pub force: bool,
    /// Further columns to write (restore-admin: clear the soft-delete, re-enable).
    pub extra: BTreeMap<String, WriteValue>,
    /// Transplant: copy this account's (login or #ID) stored password value
    /// (and salt, and `copy_hash_to` columns) instead of hashing a new password.
    pub donor: Option<String>,
    /// Backup restore: copy the account's own values from this backup row.
    pub backup: Option<BackupRow>,
    /// Whether the table is transactional, when the caller already asked
    /// (a batch plans many rows of one table).
    pub transactional: Option<bool>,
    /// The before-image, when the caller just read it by primary key (a
    /// batch reads its rows in one statement); `account` is then not resolved.
    pub before: Option<Account>,
}

/// Where copied password values come from: another account (a transplant),
/// or the account's own row in a backup. Which columns land where.
#[derive(Debug, Clone)]
pub struct Donor {
    /// The donor account; for a backup restore, the account itself.
    pub account: Account,
    /// (target column, source column): compared after the UPDATE, inside the transaction.
    pub copied: Vec<(String, String)>,
    /// A backup restore: the backup and the values read from it (in `copied`
    /// order). None: a live donor, re-read inside the transaction.
    pub backup: Option<(BackupIdentity, Vec<Value>)>,
}

impl Donor {
    /// The backup a restore copies from.
    pub fn backup_identity(&self) -> Option<&BackupIdentity> {
        self.backup.as_ref().map(|(b, _)| b)
    }

    /// The live donor's label (None for a backup restore).
    pub fn donor_label(&self) -> Option<String> {
        match self.backup {
            None => Some(self.account.label()),
            Some(_) => None,
        }
    }
}

/// One column the plan writes.
#[derive(Debug, Clone)]
pub struct Change {
    pub column: String,
    pub role: Option<&'static str>,
    pub before: Value,
    pub after: Value,
    /// Password and salt values: shown and journaled only as fingerprints.
    pub secret: bool,
}

/// One guarded statement. A plan's statements run in one transaction, in
/// order, and each must affect exactly one row or everything rolls back.
/// UPDATEs are guarded by the primary key and the before-values; INSERTs by
/// "does not exist" (`INSERT … SELECT … WHERE NOT EXISTS (…)`).
#[derive(Debug, Clone)]
pub struct Statement {
    /// What it does, for the plan and the journal ("update the row", "link role 1").
    pub purpose: Said,
    pub table: String,
    pub sql: String,
    /// Bound values; they hold the new hash: never print them.
    pub params: Vec<Value>,
}

/// A query that must find at least one row after the statements ran (a role
/// link re-created by the plan): part of the verification before COMMIT.
#[derive(Debug, Clone)]
pub struct PostCheck {
    pub what: String,
    pub sql: String,
    pub params: Vec<Value>,
}

/// A ready-to-apply write. The statements' params hold the new hash: never print them.
pub struct Plan {
    pub action: Action,
    pub account: Account,
    pub table: String,
    pub statements: Vec<Statement>,
    /// Checked after the statements, before COMMIT.
    pub post_checks: Vec<PostCheck>,
    /// The first statement re-creates the account's row (it did not exist).
    pub creates_row: bool,
    pub changes: Vec<Change>,
    /// Columns in the WHERE guard besides the primary key.
    pub guarded: Vec<String>,
    pub warnings: Vec<Said>,
    pub scheme_id: String,
    pub transactional: bool,
    /// The new password to verify after the UPDATE (reset only).
    pub new_password: Option<Password>,
    /// That verification, started on a blocking thread when the plan was
    /// built: it runs while the operator confirms (protocol.rs).
    pub early: super::protocol::SharedCheck,
    /// A transplant's donor (no new password: the copied values are compared with the donor's).
    pub donor: Option<Donor>,
}

/// Render of a plan that holds no secret: fingerprints for secret values.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    pub action: Action,
    pub account: String,
    pub table: String,
    /// The first statement's SQL (the only one for reset and unlock).
    pub sql: String,
    pub statements: Vec<StatementView>,
    pub creates_row: bool,
    pub changes: Vec<ChangeView>,
    pub guarded: Vec<String>,
    pub warnings: Vec<Said>,
    pub scheme: String,
    pub transactional: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementView {
    pub purpose: Said,
    pub table: String,
    pub sql: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeView {
    pub column: String,
    pub before: String,
    pub after: String,
}

impl Plan {
    /// No column to change and no link to add (every link INSERT comes with its post-check).
    pub fn nothing_to_do(&self) -> bool {
        self.changes.is_empty() && self.post_checks.is_empty()
    }

    /// How the password column gets its value, for the journal: "backup",
    /// "transplant", "new_password", or None (no password written).
    pub fn method(&self) -> Option<&'static str> {
        if self.backup().is_some_and(|b| b.entry.is_some()) {
            Some("undo")
        } else if self.backup().is_some() {
            Some("backup")
        } else if self.donor.is_some() {
            Some("transplant")
        } else if self.new_password.is_some() {
            Some("new_password")
        } else {
            None
        }
    }

    /// The backup a restore copies from.
    pub fn backup(&self) -> Option<&BackupIdentity> {
        self.donor.as_ref().and_then(Donor::backup_identity)
    }

    /// The first statement's SQL text ("" when there is none).
    pub fn sql(&self) -> &str {
        self.statements.first().map_or("", |st| st.sql.as_str())
    }

    /// Every table a statement writes, in order, without repeats.
    pub fn tables(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for st in &self.statements {
            if !out.contains(&st.table) {
                out.push(st.table.clone());
            }
        }
        out
    }

    /// `fingerprint(domain, bytes)` comes from the journal's key.
    pub fn view(&self, fingerprint: &dyn Fn(&str, &[u8]) -> String) -> PlanView {
        let show = |c: &Change, v: &Value| {
            let fp = fingerprint(&format!("column:{}", c.column), &v.canonical_bytes());
            if c.secret {
                fp
            } else {
                format!("{} ({fp})", v.as_text().unwrap_or_else(|| "NULL".into()))
            }
        };
        PlanView {
            action: self.action,
            account: self.account.label(),
            table: self.table.clone(),
            sql: self.sql().to_string(),
            statements: self
                .statements
                .iter()
                .map(|st| StatementView {
                    purpose: st.purpose.clone(),
                    table: st.table.clone(),
                    sql: st.sql.clone(),
                })
                .collect(),
            creates_row: self.creates_row,
            changes: self
                .changes
                .iter()
                .map(|c| ChangeView {
                    column: c.column.clone(),
                    before: show(c, &c.before),
                    after: show(c, &c.after),
                })
                .collect(),
            guarded: self.guarded.clone(),
            warnings: self.warnings.clone(),
            scheme: self.scheme_id.clone(),
            transactional: self.transactional,
        }
    }
}

/// Same value as far as the database is concerned ('1' and 1, NULL and NULL).
pub fn same_value(a: &Value, b: &Value) -> bool {
    a.as_text() == b.as_text()
}

pub(crate) async fn resolve_write(
    s: &mut Session,
    spec: WriteSpec,
    now: &mut Option<Value>,
) -> Result<Value, OpError> {
    Ok(match spec {
        WriteSpec::Null => Value::Null,
        WriteSpec::Int(i) => Value::Int(i),
        WriteSpec::Text(t) => Value::Text(t),
        // Validation keeps these to emergency templates, which resolve them first.
        WriteSpec::Login | WriteSpec::Uuid32 | WriteSpec::UnixNow | WriteSpec::Guid => {
            return Err(OpError::Usage(
                "internal: @login / @uuid32 / @guid outside an emergency template".into(),
            ));
        }
        WriteSpec::Now => {
            if now.is_none() {
                *now = Some(Value::DateTime(s.backend.now().await?));
            }
            now.clone().unwrap_or(Value::Null)
        }
    })
}

/// One column a plan writes, before its before-value is known.
struct Write {
    column: String,
    /// The mapped role ("password", "salt") when the caller knows it.
    role: Option<&'static str>,
    value: Value,
    /// Password and salt values: shown and journaled only as fingerprints.
    secret: bool,
}

impl Write {
    fn secret(column: &str, role: Option<&'static str>, value: Value) -> Write {
        Write {
            column: column.to_string(),
            role,
            value,
            secret: true,
        }
    }

    fn plain(column: String, value: Value) -> Write {
        Write {
            column,
            role: None,
            value,
            secret: false,
        }
    }
}

/// Builds the plan for a reset (`new_password` Some, or a transplant with
/// `opts.donor`), an unlock, or the UPDATE part of a restore-admin.
pub async fn build(
    s: &mut Session,
    account: &str,
    action: Action,
    new_password: Option<Password>,
    opts: &PlanOptions,
) -> Result<Plan, OpError> {
    if action == Action::Reset {
        refuse_directory_password(s)?;
    }
    if action == Action::Disable {
        refuse_disable_unmapped(s)?;
    }
    if opts.donor.is_some() {
        refuse_transplant_request(s, action, new_password.is_some())?;
    }
    if opts.backup.is_some() && (action != Action::Reset || new_password.is_some()) {
        return Err(OpError::Usage(
            "--from-backup restores the backup's stored value with reset only; it takes no new password".into(),
        ));
    }
    // Step 1 of the protocol: the before-image, read by primary key (a `#ID`
    // reference was resolved by exactly that read: not read twice).
    let before = match &opts.before {
        Some(image) => image.clone(),
        None => before_image(s, account).await?,
    };
    let c = s.connector.clone();
    let table = c.table_name();
    let mut warnings = account_warnings(s, &before, action);
    let mut writes = Vec::new();
    let mut donor = None;
    if let (Action::Reset, Some(from)) = (action, &opts.donor) {
        let (d, copies) = transplant_writes(s, &before, from, opts.force, &mut warnings).await?;
        writes.extend(copies);
        donor = Some(d);
    }
    if let (Action::Reset, Some(b)) = (action, &opts.backup) {
        let (d, copies) = backup_writes(s, &before, b, &mut warnings)?;
        writes.extend(copies);
        donor = Some(d);
    }
    let writes_password =
        action == Action::Reset || (action == Action::RestoreAdmin && s.connector.keeps_password());
    if writes_password && donor.is_none() {
        let password = new_password
            .as_ref()
            .ok_or_else(|| OpError::Usage("reset needs a new password".into()))?;
        writes.extend(password_writes(
            s,
            &before,
            password,
            opts.force,
            &mut warnings,
        )?);
    }
    // An undo writes the sealed old values only: no reset settings on top.
    let undo = opts
        .backup
        .as_ref()
        .is_some_and(|b| b.identity.entry.is_some());
    if !undo {
        writes.extend(setting_writes(s, action, opts, &mut warnings).await?);
    }
    if matches!(action, Action::Unlock | Action::RestoreAdmin) || opts.unlock {
        warnings.extend(c.notes_said().filter(|n| n.to_string().contains("lockout")));
    }
    if action == Action::Disable {
        warnings.extend(sessions_warning(&c));
    }
    let (changes, unchanged) = changes_of(s, &before, writes).await?;
    warnings.extend(unchanged);
    let missing = s
        .write_access
        .missing(changes.iter().map(|c| c.column.as_str()));
    if !missing.is_empty() {
        return Err(OpError::Refused(format!(
            "the DB login may not UPDATE {} in `{table}`; writes are unavailable with this login (lookups still work). Grant UPDATE on those columns (README, least privilege) or connect as another user",
            missing.join(", ")
        ).into()));
    }
    let transactional = match opts.transactional {
        Some(known) => known,
        None => s.backend.transactional(&table).await?,
    };
    if !transactional {
        warnings.push(Said::key("said.non_transactional", &[("table", &table)]));
    }
    let (statement, guarded) = guarded_update(s, &before, &changes);
    lead_warnings(&c, &before, donor.as_ref(), &mut warnings);
    let mut plan = Plan {
        action,
        account: before,
        statements: vec![statement],
        post_checks: Vec::new(),
        creates_row: false,
        table,
        changes,
        guarded,
        warnings,
        scheme_id: s.scheme.id(),
        transactional,
        new_password,
        early: Default::default(),
        donor,
    };
    plan.early = super::protocol::SharedCheck::new(super::protocol::EarlyCheck::start(s, &plan));
    Ok(plan)
}

/// The account `account` names, read by primary key.
async fn before_image(s: &mut Session, account: &str) -> Result<Account, OpError> {
    let found = resolve(s, account).await?;
    if account.starts_with('#') {
        return Ok(found);
    }
    read_by_pk(s, &found.id).await?.ok_or_else(|| {
        OpError::NotFound(format!("{} vanished while planning", found.label()).into())
    })
}

/// What a plan says first: the connector's own word on direct edits
/// (`plan_warnings`), then whose password the account accepts afterwards.
fn lead_warnings(c: &Connector, before: &Account, donor: Option<&Donor>, warnings: &mut Vec<Said>) {
    if let Some(d) = donor {
        let warning = match d.backup_identity() {
            Some(b) => Said::key(
                "said.accepts_backup_password",
                &[("account", &before.label()), ("backup", &b.label())],
            ),
            None => Said::key(
                "said.accepts_donor_password",
                &[("account", &before.label()), ("donor", &d.account.label())],
            ),
        };
        warnings.insert(0, warning);
    }
    // The vendor's own word on direct edits comes before everything else.
    for (i, w) in c.plan_warnings_said().enumerate() {
        warnings.insert(i, w);
    }
}

/// A vendor that keeps no password in its database (Dynamics: Active
/// Directory) has nothing to reset, transplant or restore from a backup:
/// refused before anything is read or journaled, saying what to do instead.
pub fn refuse_directory_password(s: &Session) -> Result<(), OpError> {
    if s.connector.keeps_password() {
        return Ok(());
    }
    Err(OpError::Refused(Said::key(
        "refuse.directory_password",
        &[("vendor", &s.connector.title)],
    )))
}

/// A connector without `[disable]` writes (a closed vendor whose switch is
/// not known) refuses a disable before anything is read or journaled.
pub fn refuse_disable_unmapped(s: &Session) -> Result<(), OpError> {
    let d = &s.connector.disable;
    if d.mapped() {
        return Ok(());
    }
    let en = d.unmapped.clone().unwrap_or_default();
    let zh = d.unmapped_zh.clone().unwrap_or_else(|| en.clone());
    let title = s.connector.title.as_str();
    // The connector's own reason, in each language, inside the catalog's sentence.
    let worded = |lang, why: &str| {
        crate::i18n::tf(
            lang,
            "said.disable_unmapped",
            &[("vendor", title), ("why", why)],
        )
    };
    Err(OpError::Refused(Said::Pair {
        en: worded(crate::i18n::Lang::En, &en),
        zh: worded(crate::i18n::Lang::Zh, &zh),
    }))
}

/// Where the vendor keeps live sessions: disabling does not end them.
pub fn sessions_warning(c: &Connector) -> Option<Said> {
    let en = c.disable.sessions.clone()?;
    let zh = c.disable.sessions_zh.clone().unwrap_or_else(|| en.clone());
    Some(Said::Pair { en, zh })
}

/// A transplant is a reset without a new password, into a scheme that does
/// not depend on the login.
fn refuse_transplant_request(
    s: &Session,
    action: Action,
    has_password: bool,
) -> Result<(), OpError> {
    if action != Action::Reset {
        return Err(OpError::Usage(
            format!(
                "--from (transplant) works with reset only, not {}",
                action.name()
            )
            .into(),
        ));
    }
    if has_password {
        return Err(OpError::Usage(
            "a transplant copies the donor's stored value; it takes no new password (drop --new-password-stdin)".into(),
        ));
    }
    refuse_login_bound(s)
}

/// What every plan on this account warns about first.
fn account_warnings(s: &Session, before: &Account, action: Action) -> Vec<Said> {
    let c = &s.connector;
    let mut warnings = Vec::new();
    if before.state(c).deleted && action != Action::RestoreAdmin {
        warnings.push(Said::key(
            "said.soft_deleted",
            &[
                ("account", &before.label()),
                ("column", &c.columns.deleted.as_deref().unwrap_or("?")),
                ("value", &before.text("deleted").unwrap_or_default()),
            ],
        ));
    }
    if before.is_admin {
        warnings.push(Said::key("said.is_admin", &[("account", &before.label())]));
    }
    if let Some(note) = &s.scheme_note {
        warnings.push(note.clone().into());
    }
    warnings
}

/// The new password hashed in the vendor's format: the password column
/// first, then `copy_hash_to` columns and the salt. A stored value without
/// the scheme's shape is refused unless `force` (or it is an older format).
fn password_writes(
    s: &Session,
    before: &Account,
    password: &Password,
    force: bool,
    warnings: &mut Vec<Said>,
) -> Result<Vec<Write>, OpError> {
    let c = &s.connector;
    if s.scheme.level() == crate::schemes::Level::Closed {
        return Err(OpError::Refused(closed_format_refusal(s, before)));
    }
    let current = before.stored_password();
    if let Some(older) = s.older_format(&current) {
        warnings.push(Said::key(
            "said.older_format",
            &[
                ("account", &before.label()),
                ("older", &older.id()),
                ("vendor", &c.title),
                ("scheme", &s.scheme.id()),
            ],
        ));
    } else if !s.scheme.has_shape(&current) {
        let msg = Said::key(
            "said.other_shape",
            &[("account", &before.label()), ("scheme", &s.scheme.id())],
        );
        if !force {
            return Err(OpError::Refused(msg));
        }
        warnings.push(Said::key("said.forced", &[("why", &msg.to_string())]));
    }
    let hashed = before.with_input(|input| s.scheme.hash(password, input))?;
    let stored = Value::Text(hashed.stored);
    let mut writes = vec![Write::secret(
        &c.columns.password,
        Some("password"),
        stored.clone(),
    )];
    // Columns the vendor keeps equal to the password column (vtiger's confirm_password).
    for col in &c.reset.copy_hash_to {
        writes.push(Write::secret(col, None, stored.clone()));
    }
    if let (Some(salt_col), Some(salt)) = (&c.columns.salt, hashed.salt) {
        writes.push(Write::secret(salt_col, Some("salt"), Value::Text(salt)));
    }
    Ok(writes)
}

/// Why a closed format gets no new value, and the two ways that work (catalog text).
fn closed_format_refusal(s: &Session, before: &Account) -> Said {
    let c = &s.connector;
    let note = match &c.scheme {
        crate::schemes::SchemeSpec::Opaque { note: Some(n) } => n.clone(),
        _ => s.scheme.id(),
    };
    let mut columns = vec![c.columns.password.clone()];
    columns.extend(c.reset.copy_hash_to.iter().cloned());
    columns.extend(c.columns.salt.iter().cloned());
    Said::key(
        "closed.reset",
        &[
            ("title", &c.title),
            ("note", &note),
            ("account", &before.login),
            ("columns", &columns.join(" + ")),
        ],
    )
}

/// The connector's other writes: reset/must-change/unlock settings and the
/// caller's extras for a reset or restore, the unlock values for an unlock.
async fn setting_writes(
    s: &mut Session,
    action: Action,
    opts: &PlanOptions,
    warnings: &mut Vec<Said>,
) -> Result<Vec<Write>, OpError> {
    let c = s.connector.clone();
    let settings = if action == Action::Disable {
        let mut set = c.disable.set.clone();
        set.extend(opts.extra.clone());
        set
    } else if action == Action::Enable {
        opts.extra.clone()
    } else if matches!(action, Action::Reset | Action::RestoreAdmin) {
        let mut extra = c.reset.set.clone();
        if opts.must_change {
            if c.reset.must_change.is_empty() {
                warnings.push(Said::key("said.no_must_change", &[("vendor", &c.title)]));
            }
            extra.extend(c.reset.must_change.clone());
        }
        if opts.unlock {
            extra.extend(c.unlock.set.clone());
        }
        extra.extend(opts.extra.clone());
        extra
    } else {
        c.unlock.set.clone()
    };
    let mut now = None;
    let mut writes = Vec::new();
    for (col, v) in settings {
        let value = resolve_write(s, v.spec(), &mut now).await?;
        writes.push(match c.reset.secret.contains(&col) {
            true => Write::secret(&col, None, value),
            false => Write::plain(col, value),
        });
    }
    Ok(writes)
}

/// Before-values of the written columns: mapped ones from the image, others
/// read now. A plain column already at its value is left out, and said so
/// (so the connector's notes and the plan agree).
async fn changes_of(
    s: &mut Session,
    before: &Account,
    writes: Vec<Write>,
) -> Result<(Vec<Change>, Vec<Said>), OpError> {
    let c = s.connector.clone();
    let mut changes = Vec::new();
    let mut unchanged = Vec::new();
    for w in writes {
        let role = w.role.or_else(|| {
            c.columns
                .mapped()
                .into_iter()
                .find(|(_, name)| *name == w.column)
                .map(|(r, _)| r)
        });
        let before_value = match before.fields.iter().find(|(_, name, _)| *name == w.column) {
            Some((_, _, v)) => v.clone(),
            None => super::account::read_column(s, &before.id, &w.column).await?,
        };
        if !w.secret && same_value(&before_value, &w.value) {
            let shown = before_value.as_text().unwrap_or_else(|| "NULL".into());
            unchanged.push(Said::key(
                "said.already",
                &[("column", &w.column), ("value", &shown)],
            ));
            continue;
        }
        changes.push(Change {
            column: w.column,
            role,
            before: before_value,
            after: w.value,
            secret: w.secret,
        });
    }
    Ok((changes, unchanged))
}

/// `UPDATE t SET a = ?, … WHERE id = ? AND login <=> ? AND password <=> ?
/// AND salt <=> ? AND <each changed column> <=> ?`, and the guarded columns.
fn guarded_update(s: &Session, before: &Account, changes: &[Change]) -> (Statement, Vec<String>) {
    let c = &s.connector;
    let table = c.table_name();
    let mut stmt = Stmt::new(s.backend.dialect());
    let sets: Vec<String> = changes
        .iter()
        .map(|ch| {
            let col = stmt.ident(&ch.column);
            let ph = stmt.bind(ch.after.clone());
            format!("{col} = {ph}")
        })
        .collect();
    let id_col = stmt.ident(&c.columns.id);
    let id_ph = stmt.bind(before.id.clone());
    let mut guards = vec![format!("{id_col} = {id_ph}")];
    let image = |role: &str| before.get(role).cloned().unwrap_or(Value::Null);
    let mut guard_cols: Vec<(String, Value)> = vec![(c.columns.login.clone(), image("login"))];
    if c.keeps_password() {
        guard_cols.push((c.columns.password.clone(), image("password")));
    }
    if let Some(salt) = &c.columns.salt {
        guard_cols.push((salt.clone(), image("salt")));
    }
    for ch in changes {
        if !guard_cols.iter().any(|(col, _)| *col == ch.column) {
            guard_cols.push((ch.column.clone(), ch.before.clone()));
        }
    }
    let mut guarded = Vec::new();
    for (col, value) in guard_cols {
        let q = stmt.ident(&col);
        let ph = stmt.bind(value);
        guards.push(stmt.dialect().null_safe_eq(&q, &ph));
        guarded.push(col);
    }
    let table_q = stmt.ident(&table);
    stmt.push(&format!(
        "UPDATE {table_q} SET {} WHERE {}",
        sets.join(", "),
        guards.join(" AND ")
    ));
    let statement = Statement {
        purpose: Said::key("said.purpose_update", &[("account", &before.label())]),
        table,
        sql: stmt.text,
        params: stmt.params,
    };
    (statement, guarded)
}

/// A transplant into a scheme whose value depends on the login cannot work.
fn refuse_login_bound(s: &Session) -> Result<(), OpError> {
    let replaced = s
        .encoder
        .as_ref()
        .is_some_and(|e| e.replaced_bound_to_login);
    if s.scheme.bound_to_login() || replaced {
        let scheme = match &s.encoder {
            Some(e) if replaced => e.replaces.clone(),
            _ => s.scheme.id(),
        };
        return Err(OpError::Refused(format!(
            "the stored value of {} ({scheme}) depends on the login, so a value copied from another account would not verify; reset with a new password instead",
            s.connector.name
        ).into()));
    }
    Ok(())
}

/// Hex, base64 or other: the character class of an opaque stored value.
pub fn value_class(v: &str) -> &'static str {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return "hex";
    }
    let body = v.trim_end_matches('=');
    let padding = v.len() - body.len();
    if !body.is_empty()
        && padding <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return "base64";
    }
    "other"
}

/// Resolves the donor, refuses what cannot be transplanted, and returns the
/// writes that copy its values: password (+ copy_hash_to) and salt.
async fn transplant_writes(
    s: &mut Session,
    target: &Account,
    from: &str,
    force: bool,
    warnings: &mut Vec<Said>,
) -> Result<(Donor, Vec<Write>), OpError> {
    let found = resolve(s, from).await?;
    let donor = read_by_pk(s, &found.id).await?.ok_or_else(|| {
        OpError::NotFound(format!("{} vanished while planning", found.label()).into())
    })?;
    if donor.id.as_text() == target.id.as_text() {
        return Err(OpError::Refused(Said::key(
            "said.donor_is_target",
            &[("account", &target.label())],
        )));
    }
    let dv = donor.stored_password();
    if dv.is_empty() {
        return Err(OpError::Refused(Said::key(
            "said.donor_empty",
            &[("account", &donor.label())],
        )));
    }
    let tv = target.stored_password();
    if !s.scheme.opaque_values() {
        if let Some(older) = s.older_format(&dv) {
            return Err(OpError::Refused(format!(
                "the stored value of the donor {} is in the older format {}, but a reset also writes what the current format {} needs, so the copy could break the login; choose a donor whose value is in the current format",
                donor.label(),
                older.id(),
                s.scheme.id()
            ).into()));
        }
        let targets_shape = tv.is_empty() || target.shape_ok(s);
        for (who, ok) in [(&donor, donor.shape_ok(s)), (target, targets_shape)] {
            if !ok {
                return Err(OpError::Refused(format!(
                    "the stored value of {} does not have the shape of {}, so it cannot be told to be in the same format as the other account's; run `locksmith calibrate` or reset with a new password",
                    who.label(),
                    s.scheme.id()
                ).into()));
            }
        }
    }
    if tv.is_empty() {
        let msg = format!(
            "the stored value of {} is NULL or empty, so it has no shape to compare with the donor's",
            target.label()
        );
        if force {
            warnings.push(format!("--force: {msg}").into());
        } else {
            return Err(OpError::Refused(
                format!("{msg}; pass --force to copy anyway").into(),
            ));
        }
    } else if s.scheme.opaque_values() {
        let (dl, tl) = (dv.chars().count(), tv.chars().count());
        let (dc, tc) = (value_class(&dv), value_class(&tv));
        if dl != tl || dc != tc {
            return Err(OpError::Refused(format!(
                "the stored values of the donor {} ({dl} characters, {dc}) and of {} ({tl} characters, {tc}) do not have the same shape: they may be in different formats, so the copy might not work; choose a donor whose value looks like the target's",
                donor.label(),
                target.label()
            ).into()));
        }
    }
    let c = &s.connector;
    let value = donor.get("password").cloned().unwrap_or(Value::Null);
    let mut writes = vec![Write::secret(
        &c.columns.password,
        Some("password"),
        value.clone(),
    )];
    let mut copied = vec![(c.columns.password.clone(), c.columns.password.clone())];
    for col in &c.reset.copy_hash_to {
        writes.push(Write::secret(col, None, value.clone()));
        copied.push((col.clone(), c.columns.password.clone()));
    }
    if let Some(salt_col) = &c.columns.salt {
        let salt = donor.get("salt").cloned().unwrap_or(Value::Null);
        writes.push(Write::secret(salt_col, Some("salt"), salt));
        copied.push((salt_col.clone(), salt_col.clone()));
    }
    if s.scheme.opaque_values() {
        warnings.push(Said::key(
            "said.opaque_donor",
            &[("scheme", &s.scheme.id()), ("login", &target.login)],
        ));
    }
    Ok((
        Donor {
            account: donor,
            copied,
            backup: None,
        },
        writes,
    ))
}

/// The account's own values from a backup row: password (+ copy_hash_to)
/// and salt. It is the account's old value, so it fits login-bound schemes
/// and closed formats alike; a backup that holds exactly the live values
/// has nothing to restore.
fn backup_writes(
    s: &Session,
    target: &Account,
    row: &BackupRow,
    warnings: &mut Vec<Said>,
) -> Result<(Donor, Vec<Write>), OpError> {
    let c = &s.connector;
    let undo = row.identity.entry.is_some();
    if row.login != target.login {
        return Err(OpError::Refused(
            format!(
                "the backup's row has the login `{}`, the live account {}; nothing was written",
                row.login,
                target.label()
            )
            .into(),
        ));
    }
    let password = row.value(&c.columns.password);
    if !undo && password.as_text().unwrap_or_default().is_empty() {
        return Err(OpError::Refused(format!(
            "the backup's row of {} has no stored password value (NULL or empty): there is nothing to restore",
            target.label()
        ).into()));
    }
    let mut writes = Vec::new();
    let mut copied = Vec::new();
    let mut values = Vec::new();
    let mut same = true;
    for (col, v) in &row.values {
        let role = if *col == c.columns.password {
            Some("password")
        } else if Some(col) == c.columns.salt.as_ref() {
            Some("salt")
        } else {
            None
        };
        if let Some(r) = role {
            same &= same_value(v, target.get(r).unwrap_or(&Value::Null));
        }
        let secret = role.is_some() || c.reset.copy_hash_to.contains(col);
        writes.push(match secret {
            true => Write::secret(col, role, v.clone()),
            false => Write::plain(col.clone(), v.clone()),
        });
        copied.push((col.clone(), col.clone()));
        values.push(v.clone());
    }
    if same && !undo {
        return Err(OpError::Refused(
            format!(
                "{} already holds the backup's password value: there is nothing to restore",
                target.label()
            )
            .into(),
        ));
    }
    if s.scheme.opaque_values() {
        warnings.push(Said::key(
            "said.opaque_backup",
            &[("scheme", &s.scheme.id()), ("login", &target.login)],
        ));
    }
    Ok((
        Donor {
            account: target.clone(),
            copied,
            backup: Some((row.identity.clone(), values)),
        },
        writes,
    ))
}

#[cfg(test)]
mod tests {
    use super::value_class;

    #[test]
    fn value_classes() {
        assert_eq!(
            value_class("da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            "hex"
        );
        assert_eq!(value_class("2jmj7l5rSw0yVb/vlWAYkK/YBwk="), "base64");
        assert_eq!(value_class("abc+/xyz"), "base64");
        assert_eq!(value_class("a==="), "other");
        assert_eq!(value_class(")  F \", ,P T #8"), "other");
        assert_eq!(value_class(""), "other");
    }
}
