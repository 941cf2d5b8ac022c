//! The emergency (break-glass) admin: locate it, say what keeps it from
//! working, and plan ONE restore that fixes all of it. The plan goes through
//! the one write path (`protocol::apply`): every statement guarded, all of
//! them in one transaction.

use std::collections::BTreeMap;

use serde::Serialize;

use super::account::{Account, read_by_pk, resolve};
use super::plan::{self, Action, Change, Plan, PlanOptions, PostCheck, Statement};
use super::second_factor;
use super::sql::Stmt;
use super::{OpError, Session};
use crate::backend::Value;
use crate::connector::{Connector, WriteSpec, WriteValue};
use crate::i18n::Said;
use crate::schemes::AccountInput;
use crate::secret::{HEX_LOWER, Password, random_string};

/// One thing that keeps the emergency admin from working.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    /// missing | deleted | disabled | locked | role_link_missing | not_admin | password_format
    pub code: &'static str,
    pub message: String,
}

/// Where the emergency admin is and what is wrong with it.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The row, when it exists.
    pub account: Option<Account>,
    /// Its login (the one a re-created row gets when it is missing).
    pub login: String,
    /// Its primary key (the declared one when the row is missing).
    pub id: Option<String>,
    pub problems: Vec<Problem>,
}

impl Diagnosis {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn label(&self) -> String {
        match &self.account {
            Some(a) => a.label(),
            None => format!(
                "{} (#{}, missing)",
                self.login,
                self.id.as_deref().unwrap_or("?")
            ),
        }
    }
}

fn problem(code: &'static str, message: String) -> Problem {
    Problem { code, message }
}

/// Finds the emergency admin: `--account` (login or #ID) when given, else the
/// connector's `emergency.id`, else its `emergency.login`.
pub async fn locate(s: &mut Session, account: Option<&str>) -> Result<Diagnosis, OpError> {
    let c = s.connector.clone();
    if account.is_none() && !c.emergency.declared() {
        return Err(OpError::Usage(format!(
            "connector `{}` declares no emergency admin ([emergency] in {}); pass --account LOGIN",
            c.name, c.source
        ).into()));
    }
    let Some(acc) = find_row(s, account).await? else {
        return missing_row(&c, account);
    };
    let problems = row_problems(s, &c, &acc).await?;
    Ok(Diagnosis {
        login: acc.login.clone(),
        id: Some(acc.id_text()),
        account: Some(acc),
        problems,
    })
}

/// The emergency admin's row, or None when it is gone (a `#ID` that does
/// not resolve is an error: only a login can be re-created).
async fn find_row(s: &mut Session, account: Option<&str>) -> Result<Option<Account>, OpError> {
    let e = s.connector.emergency.clone();
    Ok(match account {
        Some(a) => match resolve(s, a).await {
            Ok(acc) => Some(acc),
            Err(OpError::NotFound(_)) if !a.starts_with('#') => None,
            Err(err) => return Err(err),
        },
        None => match (&e.id, &e.login) {
            (Some(id), _) => read_by_pk(s, &Value::Text(id.clone())).await?,
            (None, Some(login)) => match resolve(s, login).await {
                Ok(acc) => Some(acc),
                Err(OpError::NotFound(_)) => None,
                Err(err) => return Err(err),
            },
            (None, None) => None,
        },
    })
}

/// The diagnosis of a missing row, with the login a re-created row gets.
fn missing_row(c: &Connector, account: Option<&str>) -> Result<Diagnosis, OpError> {
    let e = &c.emergency;
    let login = account
        .map(str::to_string)
        .or_else(|| e.login.clone())
        .ok_or_else(|| {
            OpError::NotFound(format!(
                "the emergency admin #{} is missing and connector `{}` names no login to re-create it with; pass --account LOGIN",
                e.id.as_deref().unwrap_or("?"),
                c.name
            ).into())
        })?;
    Ok(Diagnosis {
        account: None,
        problems: vec![problem(
            "missing",
            format!(
                "the row is missing from `{}` (no {} = {} / login `{login}`)",
                c.table_name(),
                c.columns.id,
                e.id.as_deref().unwrap_or("?")
            ),
        )],
        login,
        id: e.id.clone(),
    })
}

/// What keeps an existing row from working: deleted, disabled, locked, not
/// an admin (flag or role link), or a stored value nobody can log in with.
async fn row_problems(
    s: &mut Session,
    c: &Connector,
    acc: &Account,
) -> Result<Vec<Problem>, OpError> {
    let mut problems = Vec::new();
    let st = acc.state(c);
    if st.deleted {
        problems.push(problem(
            "deleted",
            format!(
                "soft-deleted ({} = {})",
                c.columns.deleted.as_deref().unwrap_or("?"),
                acc.text("deleted").unwrap_or_default()
            ),
        ));
    }
    if st.enabled == Some(false) {
        problems.push(problem(
            "disabled",
            format!(
                "disabled ({} = {})",
                c.columns.status.as_deref().unwrap_or("?"),
                acc.text("status").unwrap_or_default()
            ),
        ));
    }
    if st.locked == Some(true) {
        problems.push(problem("locked", "locked in the database".into()));
    }
    if acc.full_access(c) == Some(false) {
        problems.push(problem(
            "access_mode",
            format!(
                "no full access ({} = {}; full access is {})",
                c.columns.access.as_deref().unwrap_or("?"),
                acc.text("access").unwrap_or_default(),
                c.states.full_access.join(" / ")
            ),
        ));
    }
    if c.admin.role.is_some() {
        let role = role_value(s, &acc.id).await?;
        if !link_exists(s, &acc.id, &role).await? {
            problems.push(problem(
                "role_link_missing",
                format!(
                    "not linked to the admin role `{}` in `{}`",
                    c.admin
                        .role
                        .as_ref()
                        .and_then(|r| r.roles.first())
                        .cloned()
                        .unwrap_or_default(),
                    c.admin
                        .role
                        .as_ref()
                        .map(|r| c.prefixed(&r.table))
                        .unwrap_or_default()
                ),
            ));
        }
    } else if let Some(flag) = &c.admin.flag
        && !flag_set(s, acc).await?
    {
        problems.push(problem(
            "not_admin",
            format!(
                "the admin flag is not set ({} is not {})",
                flag.column,
                flag.values.join(" / ")
            ),
        ));
    }
    for flag in second_factor::active(s, &acc.id).await? {
        problems.push(problem(
            "second_factor",
            format!(
                "{} is on ({}): the password alone does not sign in; restore-admin --clear-2fa turns it off",
                flag.what, flag.column
            ),
        ));
    }
    if !acc.shape_ok(s) {
        problems.push(problem(
            "password_format",
            format!(
                "the stored value does not have the shape of {}: nobody can log in with it",
                s.scheme.id()
            ),
        ));
    }
    Ok(problems)
}

/// Whether the row itself carries the admin flag. An id in `admin.ids` makes
/// Locksmith call the row an admin, but vendors such as SuiteCRM test only the
/// flag at login, so the emergency admin needs the flag itself.
async fn flag_set(s: &mut Session, acc: &Account) -> Result<bool, OpError> {
    let c = s.connector.clone();
    let Some(flag) = &c.admin.flag else {
        return Ok(true);
    };
    let mut stmt = Stmt::new(s.backend.dialect());
    let t = stmt.ident(&c.table_name());
    let id_q = stmt.ident(&c.columns.id);
    let flag_q = stmt.ident(&flag.column);
    let key = stmt.bind(acc.id.clone());
    let phs: Vec<String> = flag
        .values
        .iter()
        .map(|v| stmt.bind(Value::Text(v.clone())))
        .collect();
    stmt.push(&format!(
        "SELECT 1 FROM {t} WHERE {id_q} = {key} AND {flag_q} IN ({})",
        phs.join(", ")
    ));
    Ok(!s.backend.query(&stmt.text, &stmt.params).await?.is_empty())
}

/// The value of the link table's role column for the emergency role: the
/// first of `admin.role.roles`, looked up in `role_table` when there is one
/// (the copy whose `role_table_match` columns equal the account's own).
async fn role_value(s: &mut Session, user: &Value) -> Result<Value, OpError> {
    let c = s.connector.clone();
    let Some(role) = &c.admin.role else {
        return Err(OpError::Usage("internal: no admin role".into()));
    };
    let key = role
        .roles
        .first()
        .cloned()
        .ok_or_else(|| OpError::Usage("internal: admin.role.roles is empty".into()))?;
    let (Some(rt), Some(rid), Some(rkey)) =
        (&role.role_table, &role.role_table_id, &role.role_table_key)
    else {
        return Ok(Value::Text(key));
    };
    let mut stmt = Stmt::new(s.backend.dialect());
    let rid_q = stmt.ident(rid);
    let rt_q = stmt.ident(&c.prefixed(rt));
    let rkey_q = stmt.ident(rkey);
    let ph = stmt.bind(Value::Text(key.clone()));
    let mut sql = format!("SELECT {rid_q} FROM {rt_q} WHERE {rkey_q} = {ph}");
    for (col, value) in &role.role_table_where {
        let col = stmt.ident(col);
        let ph = stmt.bind(Value::Text(value.clone()));
        sql.push_str(&format!(" AND {col} = {ph}"));
    }
    if !role.role_table_match.is_empty() {
        let users = stmt.ident(&c.table_name());
        let id_q = stmt.ident(&c.columns.id);
        for (col, user_col) in &role.role_table_match {
            let col = stmt.ident(col);
            let user_col = stmt.ident(user_col);
            let ph = stmt.bind(user.clone());
            sql.push_str(&format!(
                " AND {col} = (SELECT u.{user_col} FROM {users} u WHERE u.{id_q} = {ph})"
            ));
        }
    }
    stmt.push(&sql);
    let rows = s.backend.query(&stmt.text, &stmt.params).await?;
    let matched = if role.role_table_match.is_empty() {
        String::new()
    } else {
        format!(
            " with the account's own {}",
            role.role_table_match
                .values()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    rows.into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .ok_or_else(|| {
            OpError::Refused(format!(
                "the admin role `{key}`{matched} does not exist in `{}`; restore it first (it is not a user row)",
                c.prefixed(rt)
            ).into())
        })
}

/// `SELECT 1 FROM link WHERE user = ? AND role = ?` with its values.
fn link_query(s: &Session, user: &Value, role: &Value) -> (String, Vec<Value>) {
    let c = &s.connector;
    let mut stmt = Stmt::new(s.backend.dialect());
    if let Some(r) = &c.admin.role {
        let link = stmt.ident(&c.prefixed(&r.table));
        let u = stmt.ident(&r.user_column);
        let rc = stmt.ident(&r.role_column);
        let p1 = stmt.bind(user.clone());
        let p2 = stmt.bind(role.clone());
        stmt.push(&format!(
            "SELECT 1 FROM {link} WHERE {u} = {p1} AND {rc} = {p2}"
        ));
    }
    (stmt.text, stmt.params)
}

async fn link_exists(s: &mut Session, user: &Value, role: &Value) -> Result<bool, OpError> {
    let (sql, params) = link_query(s, user, role);
    Ok(!s.backend.query(&sql, &params).await?.is_empty())
}

/// A template value with `@login`, `@uuid32`, `@now` and `@null` filled in.
async fn template_value(
    s: &mut Session,
    v: &WriteValue,
    login: &str,
    now: &mut Option<Value>,
) -> Result<Value, OpError> {
    match v.spec() {
        WriteSpec::Login => Ok(Value::Text(login.to_string())),
        WriteSpec::Uuid32 => Ok(Value::Text(
            random_string(32, HEX_LOWER).map_err(|e| OpError::Refused(e.to_string().into()))?,
        )),
        WriteSpec::Guid => random_guid(),
        // Unix time is the same on both machines, so Locksmith's own clock is fine here.
        WriteSpec::UnixNow => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| Value::Int(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
            .map_err(|e| OpError::Refused(format!("the system clock is before 1970: {e}").into())),
        other => plan::resolve_write(s, other, now).await,
    }
}

/// A version 4 GUID from the OS CSPRNG, uppercase 8-4-4-4-12 as SQL Server shows them.
fn random_guid() -> Result<Value, OpError> {
    let hex = random_string(32, b"0123456789ABCDEF")
        .map_err(|e| OpError::Refused((e.to_string()).into()))?;
    let mut digits: Vec<char> = hex.chars().collect();
    // RFC 4122: version 4 in the 13th digit, variant 10xx in the 17th.
    digits[12] = '4';
    digits[16] = ['8', '9', 'A', 'B'][digits[16].to_digit(16).unwrap_or(0) as usize % 4];
    let d: String = digits.into_iter().collect();
    Ok(Value::Text(format!(
        "{}-{}-{}-{}-{}",
        &d[0..8],
        &d[8..12],
        &d[12..16],
        &d[16..20],
        &d[20..32]
    )))
}

/// `INSERT INTO link (user, role, extra…) SELECT ?, ?, … WHERE NOT EXISTS (link)`,
/// and the post-check that finds the link afterwards.
async fn link_statement(
    s: &mut Session,
    user: &Value,
    role: &Value,
    login: &str,
) -> Result<(Statement, PostCheck), OpError> {
    let c = s.connector.clone();
    let Some(r) = &c.admin.role else {
        return Err(OpError::Usage("internal: no admin role".into()));
    };
    let link = c.prefixed(&r.table);
    let mut now = None;
    let mut cols: Vec<(String, Value)> = vec![
        (r.user_column.clone(), user.clone()),
        (r.role_column.clone(), role.clone()),
    ];
    for (col, v) in &c.emergency.link {
        let value = template_value(s, v, login, &mut now).await?;
        cols.push((col.clone(), value));
    }
    let mut stmt = Stmt::new(s.backend.dialect());
    let names: Vec<String> = cols.iter().map(|(c, _)| stmt.ident(c)).collect();
    let phs: Vec<String> = cols.iter().map(|(_, v)| stmt.bind(v.clone())).collect();
    let link_q = stmt.ident(&link);
    let u = stmt.ident(&r.user_column);
    let rc = stmt.ident(&r.role_column);
    let g1 = stmt.bind(user.clone());
    let g2 = stmt.bind(role.clone());
    let from = stmt.dialect().values_source();
    stmt.push(&format!(
        "INSERT INTO {link_q} ({}) SELECT {}{from} WHERE NOT EXISTS (SELECT 1 FROM {link_q} WHERE {u} = {g1} AND {rc} = {g2})",
        names.join(", "),
        phs.join(", ")
    ));
    let (sql, params) = link_query(s, user, role);
    let role_name = r.roles.first().cloned().unwrap_or_default();
    Ok((
        Statement {
            purpose: Said::key(
                "said.purpose_link",
                &[("role", &role_name), ("table", &link)],
            ),
            table: link.clone(),
            sql: stmt.text,
            params: stmt.params,
        },
        PostCheck {
            what: format!("the link to role `{role_name}` in `{link}`"),
            sql,
            params,
        },
    ))
}

/// One plan that fixes everything `diag` found, and resets the password to
/// `password` (the operator cannot know the current one): re-enable, clear
/// the soft-delete, unlock, set the admin flag, re-link the role, or
/// re-create the row from the connector's template.
pub async fn plan_restore(
    s: &mut Session,
    diag: &Diagnosis,
    password: Password,
) -> Result<Plan, OpError> {
    plan_restore_with(s, diag, Some(password), false).await
}

/// `plan_restore`, and with `clear_2fa` the connector's `second_factor.clear`
/// columns too (a second factor or external-only sign-in is turned off).
/// `password` is None only where the vendor keeps no password (the account is
/// re-enabled and re-linked, its directory password stays as it is).
pub async fn plan_restore_with(
    s: &mut Session,
    diag: &Diagnosis,
    password: Option<Password>,
    clear_2fa: bool,
) -> Result<Plan, OpError> {
    let c = s.connector.clone();
    let e = &c.emergency;
    let demoted = diag.problems.iter().any(|p| p.code == "not_admin");
    let mut plan = match &diag.account {
        Some(acc) => {
            let mut extra: BTreeMap<String, WriteValue> = BTreeMap::new();
            extra.extend(e.undelete.clone());
            if clear_2fa {
                extra.extend(second_factor::clear_writes(s));
            }
            if e.enable.is_empty() {
                extra.extend(c.unlock.set.clone());
            } else {
                extra.extend(e.enable.clone());
            }
            if let Some(flag) = &c.admin.flag
                && c.admin.role.is_none()
                && demoted
                && let Some(v) = flag.values.first()
            {
                extra.insert(flag.column.clone(), WriteValue::Text(v.clone()));
            }
            let opts = PlanOptions {
                // The stored value is replaced whatever it holds: that is the point.
                force: true,
                extra,
                ..PlanOptions::default()
            };
            plan::build(
                s,
                &format!("#{}", acc.id_text()),
                Action::RestoreAdmin,
                password,
                &opts,
            )
            .await?
        }
        None => {
            let password = password.ok_or_else(|| {
                OpError::Refused(format!(
                    "the account is missing and connector `{}` keeps no password to re-create it with; create the user in the vendor's own tools",
                    c.name
                ).into())
            })?;
            plan_create(s, diag, password).await?
        }
    };
    unfixed_warnings(&c, diag, &mut plan, clear_2fa);
    if c.admin.role.is_some() {
        let user = plan.account.id.clone();
        let role = role_value(s, &user).await?;
        if !link_exists(s, &user, &role).await? {
            let link = c.admin.role.as_ref().map(|r| c.prefixed(&r.table));
            require_insert(
                s,
                link.as_deref().unwrap_or_default(),
                "links the admin role",
            )
            .await?;
            let (st, check) = link_statement(s, &user, &role, &diag.login).await?;
            if !s.backend.transactional(&st.table).await? {
                plan.transactional = false;
                plan.warnings.push(format!(
                    "table `{}` uses a non-transactional engine (MyISAM?): the link cannot be rolled back if a later step fails",
                    st.table
                ).into());
            }
            if plan.changes.is_empty() && !plan.creates_row {
                // The row itself is fine: an UPDATE with nothing to SET is no statement.
                plan.statements.clear();
            }
            plan.statements.push(st);
            plan.post_checks.push(check);
        } else if plan.creates_row {
            plan.warnings.push(format!(
                "a link of #{} to the admin role is still there from the deleted row; it is kept",
                plan.account.id_text()
            ).into());
        }
    }
    Ok(plan)
}

/// A problem the plan does not fix is said out loud in its warnings, not hidden.
fn unfixed_warnings(c: &Connector, diag: &Diagnosis, plan: &mut Plan, clear_2fa: bool) {
    if !clear_2fa && diag.problems.iter().any(|p| p.code == "second_factor") {
        plan.warnings.push(
            "a second factor or external-only sign-in stays on: the new password alone will not sign in; plan again with --clear-2fa".into(),
        );
    }
    if plan.creates_row {
        return;
    }
    for (code, column) in [
        ("deleted", &c.columns.deleted),
        ("disabled", &c.columns.status),
        ("locked", &c.columns.locked),
        ("access_mode", &c.columns.access),
    ] {
        let found = diag.problems.iter().any(|p| p.code == code);
        let fixed = column
            .as_ref()
            .is_some_and(|col| plan.changes.iter().any(|ch| &ch.column == col));
        if found && !fixed {
            plan.warnings.push(format!(
                "this plan does not fix `{code}`: connector `{}` declares no emergency.undelete / emergency.enable value for it",
                c.name
            ).into());
        }
    }
}

/// Refuses the plan, before any intent, when the login may not INSERT into
/// `table`: the statement would fail only inside the transaction otherwise.
async fn require_insert(s: &mut Session, table: &str, why: &str) -> Result<(), OpError> {
    if s.backend.insert_access(table).await? {
        return Ok(());
    }
    Err(OpError::Refused(format!(
        "the database login may not INSERT into `{table}`, and this restore {why} there: \
         GRANT INSERT ON {table} TO the login (README, \"Least privilege\"), then run it again; nothing was written"
    ).into()))
}

/// The row is gone: an INSERT from the connector's template, guarded by
/// "neither the key nor the login exists".
async fn plan_create(
    s: &mut Session,
    diag: &Diagnosis,
    password: Password,
) -> Result<Plan, OpError> {
    let c = s.connector.clone();
    let table = c.table_name();
    let (Some(id), false) = (&diag.id, c.emergency.create.is_empty()) else {
        return Err(OpError::Refused(Said::key(
            "said.no_template",
            &[("connector", &c.name), ("source", &c.source)],
        )));
    };
    if let Some(other) = read_by_pk(s, &Value::Text(id.clone())).await? {
        return Err(OpError::Refused(Said::key(
            "said.id_taken",
            &[
                ("column", &c.columns.id),
                ("id", &id),
                ("login", &other.login),
            ],
        )));
    }
    require_insert(s, &table, "re-creates the row").await?;
    let changes = template_changes(s, id, &diag.login, &password).await?;
    let (sql, params) = insert_unless_exists(s, &table, id, &diag.login, &changes);
    let transactional = s.backend.transactional(&table).await?;
    let mut warnings: Vec<Said> = vec![format!(
        "the row is re-created from the template of connector `{}`: check the vendor's other per-user tables (departments, settings) after logging in",
        c.name
    ).into()];
    if !transactional {
        warnings.push(format!(
            "table `{table}` uses a non-transactional engine (MyISAM?): the INSERT cannot be rolled back if verification fails"
        ).into());
    }
    if let Some(note) = &s.scheme_note {
        warnings.push(note.clone().into());
    }
    let account = Account {
        id: Value::Text(id.clone()),
        login: diag.login.clone(),
        fields: Vec::new(),
        is_admin: true,
    };
    Ok(Plan {
        action: Action::RestoreAdmin,
        statements: vec![Statement {
            purpose: Said::key("said.purpose_create", &[("account", &account.label())]),
            table: table.clone(),
            sql,
            params,
        }],
        account,
        post_checks: Vec::new(),
        creates_row: true,
        table,
        changes,
        guarded: vec![format!(
            "does not exist: {} or {}",
            c.columns.id, c.columns.login
        )],
        warnings,
        scheme_id: s.scheme.id(),
        transactional,
        new_password: Some(password),
        early: Default::default(),
        donor: None,
    })
}

/// Every column of the re-created row: key, login, the fresh hash (and
/// salt, and its copies), then `reset.set` and `emergency.create`, where a
/// template value replaces an earlier one for the same column.
async fn template_changes(
    s: &mut Session,
    id: &str,
    login: &str,
    password: &Password,
) -> Result<Vec<Change>, OpError> {
    let c = s.connector.clone();
    let input = AccountInput { login, salt: None };
    let hashed = s.scheme.hash(password, &input)?;
    let mut writes: Vec<(String, Option<&'static str>, Value, bool)> = vec![
        (
            c.columns.id.clone(),
            Some("id"),
            Value::Text(id.to_string()),
            false,
        ),
        (
            c.columns.login.clone(),
            Some("login"),
            Value::Text(login.to_string()),
            false,
        ),
        (
            c.columns.password.clone(),
            Some("password"),
            Value::Text(hashed.stored.clone()),
            true,
        ),
    ];
    if let (Some(col), Some(salt)) = (&c.columns.salt, hashed.salt) {
        writes.push((col.clone(), Some("salt"), Value::Text(salt), true));
    }
    for col in &c.reset.copy_hash_to {
        writes.push((col.clone(), None, Value::Text(hashed.stored.clone()), true));
    }
    let mut now = None;
    let mut template = c.reset.set.clone();
    template.extend(c.emergency.create.clone());
    for (col, v) in &template {
        let value = template_value(s, v, login, &mut now).await?;
        writes.retain(|w| w.0 != *col);
        writes.push((col.clone(), None, value, false));
    }
    let mapped = c.columns.mapped();
    Ok(writes
        .into_iter()
        .map(|(column, role, after, secret)| Change {
            role: role.or_else(|| {
                mapped
                    .iter()
                    .find(|(_, name)| *name == column)
                    .map(|(r, _)| *r)
            }),
            column,
            before: Value::Null,
            after,
            secret,
        })
        .collect())
}

/// `INSERT INTO table (cols…) SELECT ?, … WHERE NOT EXISTS (row with this key or login)`.
fn insert_unless_exists(
    s: &Session,
    table: &str,
    id: &str,
    login: &str,
    changes: &[Change],
) -> (String, Vec<Value>) {
    let c = &s.connector;
    let mut stmt = Stmt::new(s.backend.dialect());
    let names: Vec<String> = changes.iter().map(|ch| stmt.ident(&ch.column)).collect();
    let phs: Vec<String> = changes
        .iter()
        .map(|ch| stmt.bind(ch.after.clone()))
        .collect();
    let t = stmt.ident(table);
    let id_q = stmt.ident(&c.columns.id);
    let login_q = stmt.ident(&c.columns.login);
    let g1 = stmt.bind(Value::Text(id.to_string()));
    let g2 = stmt.bind(Value::Text(login.to_string()));
    let from = stmt.dialect().values_source();
    stmt.push(&format!(
        "INSERT INTO {t} ({}) SELECT {}{from} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {id_q} = {g1} OR {login_q} = {g2})",
        names.join(", "),
        phs.join(", ")
    ));
    (stmt.text, stmt.params)
}
