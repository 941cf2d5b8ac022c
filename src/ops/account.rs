//! Reading accounts: lookup with filters and paging, exact resolution of an
//! ACCOUNT argument, and the before-image read by primary key.

use serde::Serialize;

use super::sql::Stmt;
use super::{OpError, Session};
use crate::backend::{PAGE, Value};
use crate::connector::Connector;
use crate::i18n::Said;
use crate::schemes::AccountInput;

/// One account row with every mapped column.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: Value,
    pub login: String,
    /// (role, column, value) for each mapped column, password and salt included.
    pub fields: Vec<(&'static str, String, Value)>,
    pub is_admin: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccountState {
    /// None when the connector maps no status column.
    pub enabled: Option<bool>,
    pub deleted: bool,
    /// None when lockout is not kept in the database for this vendor.
    pub locked: Option<bool>,
}

impl AccountState {
    /// One word for the state, most severe first: deleted, locked, disabled, enabled.
    pub fn word(&self) -> &'static str {
        if self.deleted {
            "deleted"
        } else if self.locked == Some(true) {
            "locked"
        } else if self.enabled == Some(false) {
            "disabled"
        } else {
            "enabled"
        }
    }
}

/// One mapped field as an operator may see it: the stored hash and salt
/// show their length only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldView {
    pub role: String,
    pub column: String,
    /// The value as text; for the stored hash and salt, `<N characters>`.
    pub value: String,
    /// The stored hash or salt: its length in characters (the value is never shown).
    #[serde(skip)]
    pub secret_chars: Option<usize>,
}

/// What `show` and the console's detail screen tell about one account.
#[derive(Debug, Clone, Serialize)]
pub struct AccountSummary {
    pub label: String,
    pub id: String,
    pub login: String,
    pub fields: Vec<FieldView>,
    pub admin: bool,
    pub state: AccountState,
    pub scheme: String,
    /// The stored value has the scheme's (or an accepted older format's) shape.
    pub scheme_shape: bool,
    /// Formats the stored value could be (`hash detect`).
    pub detected: Vec<String>,
    /// The older format it is in, still accepted by the vendor.
    pub older_format: Option<String>,
    pub notes: Vec<String>,
    /// The notes in Chinese (the shells pick by language).
    pub notes_zh: Vec<String>,
}

impl AccountSummary {
    pub fn of(s: &Session, a: &Account) -> AccountSummary {
        let stored = a.stored_password();
        let fields = a
            .fields
            .iter()
            .map(|(role, column, v)| {
                // Secrets: their shape only.
                let secret = matches!(*role, "password" | "salt");
                let secret_chars = v.as_text().filter(|_| secret).map(|t| t.chars().count());
                FieldView {
                    role: role.to_string(),
                    column: column.clone(),
                    value: match secret_chars {
                        Some(n) => format!("<{n} characters>"),
                        None => v.as_text().unwrap_or_else(|| "NULL".into()),
                    },
                    secret_chars,
                }
            })
            .collect();
        AccountSummary {
            label: a.label(),
            id: a.id_text(),
            login: a.login.clone(),
            fields,
            admin: a.is_admin,
            state: a.state(&s.connector),
            scheme: s.scheme.id(),
            scheme_shape: a.shape_ok(s),
            detected: crate::schemes::detect(&stored)
                .into_iter()
                .map(|c| c.format)
                .collect(),
            older_format: s.older_format(&stored).map(|o| o.id()),
            notes: s.connector.notes.clone(),
            notes_zh: s.connector.notes_for(true).to_vec(),
        }
    }
}

impl Account {
    pub fn get(&self, role: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(r, _, _)| *r == role)
            .map(|(_, _, v)| v)
    }

    pub fn text(&self, role: &str) -> Option<String> {
        self.get(role).and_then(Value::as_text)
    }

    pub fn id_text(&self) -> String {
        self.id.as_text().unwrap_or_default()
    }

    /// `login (#id)`, how accounts are named in plans and the journal.
    pub fn label(&self) -> String {
        format!("{} (#{})", self.login, self.id_text())
    }

    pub fn stored_password(&self) -> String {
        self.text("password").unwrap_or_default()
    }

    pub fn scheme_input(&self) -> (String, Option<String>) {
        (self.login.clone(), self.text("salt"))
    }

    /// None when the connector maps no access column; false = the account
    /// signs in with reduced rights (Dynamics' AccessMode other than Read-Write).
    pub fn full_access(&self, c: &Connector) -> Option<bool> {
        c.columns.access.as_ref().map(|_| {
            self.text("access")
                .is_some_and(|a| c.states.full_access.contains(&a))
        })
    }

    pub fn state(&self, c: &Connector) -> AccountState {
        let status = self.text("status");
        let enabled = c.columns.status.as_ref().map(|_| match &status {
            Some(s) if c.states.enabled.contains(s) => true,
            Some(s) if c.states.disabled.contains(s) => false,
            // Unlisted values count as enabled only when the vendor lists the disabled ones.
            Some(_) => c.states.enabled.is_empty(),
            None => c.states.enabled.is_empty(),
        });
        let deleted = self
            .text("deleted")
            .is_some_and(|d| c.states.deleted.contains(&d));
        let by_flag = c.columns.locked.as_ref().map(|_| {
            self.text("locked")
                .is_some_and(|l| c.states.locked.contains(&l))
        });
        let by_count = match (&c.columns.failed_count, c.states.failed_limit) {
            (Some(_), Some(limit)) => Some(
                self.text("failed_count")
                    .and_then(|n| n.parse::<i64>().ok())
                    .is_some_and(|n| n >= limit),
            ),
            _ => None,
        };
        let locked = match (by_flag, by_count) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(false) || b.unwrap_or(false)),
        };
        AccountState {
            enabled,
            deleted,
            locked,
        }
    }

    /// The stored value has the shape of the connector's scheme or of an
    /// older format the vendor still accepts.
    pub fn shape_ok(&self, s: &Session) -> bool {
        s.scheme_for(&self.stored_password())
            .has_shape(&self.stored_password())
    }

    pub fn with_input<T>(&self, f: impl FnOnce(&AccountInput) -> T) -> T {
        let (login, salt) = self.scheme_input();
        f(&AccountInput {
            login: &login,
            salt: salt.as_deref(),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct LookupFilter {
    /// Only tiers 0 and 1: the exact login (or `#ID`) and logins and phones
    /// starting with the query — what their indexes answer.
    pub starts_with: bool,
    pub query: Option<String>,
    pub admins: bool,
    pub locked: bool,
    pub disabled: bool,
    pub limit: u64,
    /// Where the page starts: after this row (none: the first page).
    pub after: Option<PageCursor>,
}

/// A row's place in a lookup's order: its match tier, then its id. A page
/// starts after a cursor (keyset paging), so it stays stable when rows
/// before it change.
#[derive(Debug, Clone, PartialEq)]
pub struct PageCursor {
    /// 0 exact login or `#ID`, 1 a prefix of login or phone, 2 a prefix of
    /// name or email, 3 a substring match (0 without a query).
    pub tier: i64,
    pub id: Value,
}

impl PageCursor {
    /// The cursor as one word for `lookup --after`: `TIER:ID` for a numeric
    /// id, `TIER:=ID` for a text one (so `007` stays text).
    pub fn token(&self) -> String {
        match &self.id {
            Value::Int(i) => format!("{}:{i}", self.tier),
            Value::UInt(u) => format!("{}:{u}", self.tier),
            other => format!("{}:={}", self.tier, other.as_text().unwrap_or_default()),
        }
    }

    /// Reads a [`token`](Self::token) back.
    pub fn parse(token: &str) -> Result<PageCursor, OpError> {
        let bad = || {
            OpError::Usage(format!(
                "--after `{token}` is not a page cursor: give the value `lookup` printed after `more with --after`"
            ).into())
        };
        let (tier, id) = token.split_once(':').ok_or_else(bad)?;
        let tier = tier
            .parse::<i64>()
            .ok()
            .filter(|t| (0..=LAST_TIER).contains(t))
            .ok_or_else(bad)?;
        let id = match id.strip_prefix('=') {
            Some(text) => Value::Text(text.to_string()),
            None => Value::Int(id.parse().map_err(|_| bad())?),
        };
        Ok(PageCursor { tier, id })
    }
}

pub struct LookupPage {
    pub accounts: Vec<Account>,
    /// Each account's match tier, in order (see [`PageCursor::tier`]).
    pub tiers: Vec<i64>,
    /// Where the next page starts, when more rows exist past this one.
    pub next: Option<PageCursor>,
    pub notes: Vec<PageNote>,
}

impl LookupPage {
    /// More rows exist past this page.
    pub fn more(&self) -> bool {
        self.next.is_some()
    }
}

/// Why a filter can find nothing on this connector; each shell words it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageNote {
    /// `no_disabled_state` | `lockout_outside`
    pub code: &'static str,
    /// The connector's title.
    pub title: String,
}

impl PageNote {
    /// The note in English, as the CLI prints it.
    pub fn text(&self) -> String {
        match self.code {
            "no_disabled_state" => format!("{} has no disabled state in the database", self.title),
            _ => format!(
                "{} keeps failed-login lockouts outside the database; see `locksmith show` notes",
                self.title
            ),
        }
    }
}

/// `SELECT <mapped columns>, <is_admin expr> FROM <table> t` with the admin
/// rule's values bound (and, with a search, the match tier of `rank_query`
/// last). Every item is aliased `c0`, `c1`, … (the same column may be mapped
/// twice) so a dialect can page it as a derived table; the aliases are
/// returned in order.
fn select_accounts(stmt: &mut Stmt, c: &Connector, rank_query: Option<&str>) -> Vec<String> {
    let mut aliases = Vec::new();
    let mut items: Vec<String> = Vec::new();
    for (i, (_, col)) in c.columns.mapped().iter().enumerate() {
        let alias = format!("c{i}");
        items.push(format!("t.{} AS {}", stmt.ident(col), stmt.ident(&alias)));
        aliases.push(alias);
    }
    stmt.push("SELECT ").push(&items.join(", ")).push(", ");
    let admin = admin_expr(stmt, c);
    let alias = format!("c{}", aliases.len());
    stmt.push(&format!("{admin} AS {}", stmt.ident(&alias)));
    aliases.push(alias);
    if let Some(q) = rank_query {
        let tier = match q {
            "" => "0".to_string(),
            q => match_tier(stmt, c, q),
        };
        let alias = format!("c{}", aliases.len());
        stmt.push(&format!(", {tier} AS {}", stmt.ident(&alias)));
        aliases.push(alias);
    }
    let table = stmt.ident(&c.table_name());
    stmt.push(" FROM ").push(&table).push(" t");
    aliases
}

/// A boolean SQL expression that is true for admins (0 when the connector has no rule).
fn admin_expr(stmt: &mut Stmt, c: &Connector) -> String {
    let mut parts = Vec::new();
    let id = format!("t.{}", stmt.ident(&c.columns.id));
    if !c.admin.ids.is_empty() {
        let phs: Vec<String> = c
            .admin
            .ids
            .iter()
            .map(|v| stmt.bind(Value::Text(v.clone())))
            .collect();
        parts.push(format!("{id} IN ({})", phs.join(", ")));
    }
    if let Some(flag) = &c.admin.flag {
        let col = format!("t.{}", stmt.ident(&flag.column));
        let phs: Vec<String> = flag
            .values
            .iter()
            .map(|v| stmt.bind(Value::Text(v.clone())))
            .collect();
        parts.push(format!("{col} IN ({})", phs.join(", ")));
    }
    if let Some(role) = &c.admin.role {
        let link = stmt.ident(&c.prefixed(&role.table));
        let user_col = stmt.ident(&role.user_column);
        let role_col = stmt.ident(&role.role_column);
        let phs: Vec<String> = role
            .roles
            .iter()
            .map(|v| stmt.bind(Value::Text(v.clone())))
            .collect();
        match (&role.role_table, &role.role_table_id, &role.role_table_key) {
            (Some(rt), Some(rid), Some(rkey)) => {
                let mut conds = String::new();
                for (col, value) in &role.role_table_where {
                    let col = stmt.ident(col);
                    let ph = stmt.bind(Value::Text(value.clone()));
                    conds.push_str(&format!(" AND r.{col} = {ph}"));
                }
                // The role copy must be the account's own (its business unit's).
                for (col, user_col) in &role.role_table_match {
                    let col = stmt.ident(col);
                    let user_col = stmt.ident(user_col);
                    conds.push_str(&format!(" AND r.{col} = t.{user_col}"));
                }
                parts.push(format!(
                    "EXISTS (SELECT 1 FROM {link} l JOIN {} r ON r.{} = l.{role_col} WHERE l.{user_col} = {id} AND r.{} IN ({}){conds})",
                    stmt.ident(&c.prefixed(rt)),
                    stmt.ident(rid),
                    stmt.ident(rkey),
                    phs.join(", ")
                ))
            }
            _ => parts.push(format!(
                "EXISTS (SELECT 1 FROM {link} l WHERE l.{user_col} = {id} AND l.{role_col} IN ({}))",
                phs.join(", ")
            )),
        }
    }
    if parts.is_empty() {
        "0".to_string()
    } else {
        format!("(CASE WHEN {} THEN 1 ELSE 0 END)", parts.join(" OR "))
    }
}

/// The columns a search looks in.
fn searchable(c: &Connector) -> impl Iterator<Item = &String> {
    [
        Some(&c.columns.login),
        c.columns.display.as_ref(),
        c.columns.email.as_ref(),
        c.columns.phone.as_ref(),
    ]
    .into_iter()
    .flatten()
}

/// `t.<id>` read as text equals the `#ID` of a query `#…`: compared as text
/// so `#1x` never matches id 1 through a numeric coercion.
fn id_match(stmt: &mut Stmt, c: &Connector, q: &str) -> Option<String> {
    let id = q.strip_prefix('#').filter(|id| !id.is_empty())?;
    let col = format!("t.{}", stmt.ident(&c.columns.id));
    let ph = stmt.bind(Value::Text(stmt.dialect().like_escaped(id)));
    Some(stmt.dialect().like(&col, &ph))
}

/// `CASE` 0 for the exact login (or `#ID`), 1 for a prefix of login or
/// phone, 2 for a prefix of name or email, else 3: the order an operator
/// expects, who types `003` for 003 before the account whose phone ends in
/// 003. Tiers 0 and 1 are what the login and phone indexes can answer.
fn match_tier(stmt: &mut Stmt, c: &Connector, q: &str) -> String {
    let login = format!("t.{}", stmt.ident(&c.columns.login));
    let ph = stmt.bind(Value::Text(stmt.dialect().like_escaped(q)));
    let mut exact = vec![stmt.dialect().like(&login, &ph)];
    exact.extend(id_match(stmt, c, q));
    let mut prefix = |cols: Vec<&String>| -> String {
        let ors: Vec<String> = cols
            .into_iter()
            .map(|col| {
                let col = format!("t.{}", stmt.ident(col));
                let ph = stmt.bind(Value::Text(stmt.dialect().like_prefix(q)));
                stmt.dialect().like(&col, &ph)
            })
            .collect();
        if ors.is_empty() {
            "1 = 0".into()
        } else {
            ors.join(" OR ")
        }
    };
    let indexed = prefix(indexed_columns(c).collect());
    let others = prefix(
        [c.columns.display.as_ref(), c.columns.email.as_ref()]
            .into_iter()
            .flatten()
            .collect(),
    );
    format!(
        "(CASE WHEN {} THEN 0 WHEN {indexed} THEN 1 WHEN {others} THEN 2 ELSE {LAST_TIER} END)",
        exact.join(" OR "),
    )
}

fn in_list(stmt: &mut Stmt, col: &str, values: &[String]) -> String {
    let col = format!("t.{}", stmt.ident(col));
    let phs: Vec<String> = values
        .iter()
        .map(|v| stmt.bind(Value::Text(v.clone())))
        .collect();
    format!("{col} IN ({})", phs.join(", "))
}

fn row_to_account(c: &Connector, row: Vec<Value>) -> Account {
    let mapped = c.columns.mapped();
    let mut fields = Vec::with_capacity(mapped.len());
    let mut values = row.into_iter();
    for (role, col) in mapped {
        fields.push((role, col.to_string(), values.next().unwrap_or(Value::Null)));
    }
    let is_admin = values
        .next()
        .and_then(|v| v.as_text())
        .is_some_and(|v| v == "1");
    let id = fields[0].2.clone();
    let login = fields[1].2.as_text().unwrap_or_default();
    Account {
        id,
        login,
        fields,
        is_admin,
    }
}

pub async fn lookup(s: &mut Session, f: &LookupFilter) -> Result<LookupPage, OpError> {
    lookup_progressive(s, f, |_, _| {}).await
}

/// [`lookup`], in two steps where the engine can: the exact and prefix
/// matches of login and phone (tiers 0 and 1) from their indexes first —
/// handed to `first` when they do not fill the page — then the scan for
/// the other tiers fills the page in. On a large table the first step is
/// what an operator waits for at each keystroke; the page is the same as
/// one query ordered by (tier, id) would give.
pub async fn lookup_progressive(
    s: &mut Session,
    f: &LookupFilter,
    first: impl FnOnce(&Session, &LookupPage),
) -> Result<LookupPage, OpError> {
    let query = f.query.as_deref().filter(|q| !q.is_empty());
    if f.starts_with && query.is_some() {
        return run_page(s, f, Scope::Indexed, f.limit).await;
    }
    let indexed = query.is_some_and(|q| !q.starts_with('#'))
        && s.backend.dialect().prefix_uses_index()
        && f.after.as_ref().is_none_or(|c| c.tier <= 1);
    if !indexed {
        return run_page(s, f, Scope::Scan { from_tier: 0 }, f.limit).await;
    }
    let head = run_page(s, f, Scope::Indexed, f.limit).await?;
    if head.more() {
        return Ok(head);
    }
    first(s, &head);
    let room = f.limit.saturating_sub(head.accounts.len() as u64);
    // After every tier-0/1 row: the scan starts at tier 2 (`keyset` then
    // needs no cursor).
    let mut rest = run_page(s, f, Scope::Scan { from_tier: 2 }, room).await?;
    let mut page = head;
    page.accounts.append(&mut rest.accounts);
    page.tiers.append(&mut rest.tiers);
    // More rows past the page: the next one starts after its last row,
    // which is the head's when the head filled the page.
    page.next = rest.more().then(|| PageCursor {
        tier: page.tiers.last().copied().unwrap_or(LAST_TIER),
        id: page
            .accounts
            .last()
            .map(|a| a.id.clone())
            .unwrap_or(Value::Null),
    });
    Ok(page)
}

/// Which rows one page query reads.
#[derive(Clone, Copy)]
enum Scope {
    /// Exact or prefix login / phone, from their indexes.
    Indexed,
    /// Every searched column, substrings included, from tier `from_tier` on.
    Scan { from_tier: i64 },
}

async fn run_page(
    s: &mut Session,
    f: &LookupFilter,
    scope: Scope,
    limit: u64,
) -> Result<LookupPage, OpError> {
    let c = &s.connector;
    let query = f.query.as_deref().filter(|q| !q.is_empty());
    let mut stmt = Stmt::new(s.backend.dialect());
    let aliases = select_accounts(&mut stmt, c, Some(query.unwrap_or_default()));
    let mut conds: Vec<String> = Vec::new();
    if let Some(q) = query {
        conds.push(match scope {
            Scope::Indexed => indexed_match(&mut stmt, c, q),
            Scope::Scan { .. } => substring_match(&mut stmt, c, q),
        });
    }
    let notes = filter_conditions(&mut stmt, c, f, &mut conds);
    if !conds.is_empty() {
        stmt.push(" WHERE ").push(&conds.join(" AND "));
    }
    let text = std::mem::take(&mut stmt.text);
    let from_tier = match scope {
        Scope::Scan { from_tier } if from_tier > 0 => Some(from_tier),
        _ => None,
    };
    let (after, order_by) = keyset(&mut stmt, &aliases, f.after.as_ref(), from_tier);
    let lim = stmt.bind(Value::UInt(limit.saturating_add(1)));
    stmt.text = stmt
        .dialect()
        .paged(&text, &aliases, &after, &order_by, &lim);
    let rows = s.backend.query(&stmt.text, &stmt.params).await?;
    let mut accounts = Vec::with_capacity(rows.len());
    let mut tiers = Vec::with_capacity(rows.len());
    for mut row in rows {
        let tier = row.pop().and_then(|v| v.as_text()?.parse().ok());
        tiers.push(tier.unwrap_or(LAST_TIER));
        accounts.push(row_to_account(c, row));
    }
    let more = accounts.len() as u64 > limit;
    accounts.truncate(limit as usize);
    tiers.truncate(accounts.len());
    let next = more.then(|| PageCursor {
        tier: tiers.last().copied().unwrap_or(LAST_TIER),
        id: accounts.last().map(|a| a.id.clone()).unwrap_or(Value::Null),
    });
    Ok(LookupPage {
        accounts,
        tiers,
        next,
        notes,
    })
}

/// Tier of a substring match (see [`match_tier`]).
const LAST_TIER: i64 = 3;

/// The query anywhere in a searched column, or the `#ID`.
fn substring_match(stmt: &mut Stmt, c: &Connector, q: &str) -> String {
    let pattern = stmt.dialect().like_pattern(q);
    let mut ors = Vec::new();
    for col in searchable(c) {
        let col = format!("t.{}", stmt.ident(col));
        let ph = stmt.bind(Value::Text(pattern.clone()));
        ors.push(stmt.dialect().like(&col, &ph));
    }
    ors.extend(id_match(stmt, c, q));
    format!("({})", ors.join(" OR "))
}

/// Login or phone starting with the query: index range scans
/// (`login = q` is the prefix range's first key).
fn indexed_match(stmt: &mut Stmt, c: &Connector, q: &str) -> String {
    let pattern = stmt.dialect().like_prefix(q);
    let mut ors: Vec<String> = indexed_columns(c)
        .map(|col| {
            let col = format!("t.{}", stmt.ident(col));
            let ph = stmt.bind(Value::Text(pattern.clone()));
            stmt.dialect().like(&col, &ph)
        })
        .collect();
    // `--starts-with #7`: the id itself (tier 0), never a prefix of it.
    ors.extend(id_match(stmt, c, q));
    format!("({})", ors.join(" OR "))
}

/// The columns vendors index and operators type the start of: login, phone.
fn indexed_columns(c: &Connector) -> impl Iterator<Item = &String> {
    [Some(&c.columns.login), c.columns.phone.as_ref()]
        .into_iter()
        .flatten()
}

/// The page's order (tier, then id) and the condition for the rows after
/// `cursor` in it, on the derived table's aliases (the id is the first, the
/// tier the last).
fn keyset(
    stmt: &mut Stmt,
    aliases: &[String],
    cursor: Option<&PageCursor>,
    from_tier: Option<i64>,
) -> (String, String) {
    let col = |stmt: &Stmt, alias: &str| format!("{PAGE}.{}", stmt.ident(alias));
    let id = col(stmt, &aliases[0]);
    let tier = col(stmt, aliases.last().map_or("c0", String::as_str));
    let order_by = format!("{tier}, {id}");
    if let Some(from) = from_tier {
        let ph = stmt.bind(Value::Int(from));
        return (format!("{tier} >= {ph}"), order_by);
    }
    let Some(cursor) = cursor else {
        return ("1 = 1".into(), order_by);
    };
    let above = stmt.bind(Value::Int(cursor.tier));
    let same = stmt.bind(Value::Int(cursor.tier));
    let last = stmt.bind(cursor.id.clone());
    (
        format!("({tier} > {above} OR ({tier} = {same} AND {id} > {last}))"),
        order_by,
    )
}

/// The admins / disabled / locked filters as conditions; a filter that can
/// find nothing on this connector adds a note saying why.
fn filter_conditions(
    stmt: &mut Stmt,
    c: &Connector,
    f: &LookupFilter,
    conds: &mut Vec<String>,
) -> Vec<PageNote> {
    let mut notes = Vec::new();
    if f.admins {
        let admin = admin_expr(stmt, c);
        conds.push(format!("{admin} = 1"));
    }
    if f.disabled {
        match &c.columns.status {
            Some(col) if !c.states.disabled.is_empty() => {
                let e = in_list(stmt, col, &c.states.disabled);
                conds.push(e);
            }
            _ => {
                notes.push(PageNote {
                    code: "no_disabled_state",
                    title: c.title.clone(),
                });
                conds.push("1 = 0".into());
            }
        }
    }
    if f.locked {
        let mut ors = Vec::new();
        if let Some(col) = &c.columns.locked {
            ors.push(in_list(stmt, col, &c.states.locked));
        }
        if let (Some(col), Some(limit)) = (&c.columns.failed_count, c.states.failed_limit) {
            let col = format!("t.{}", stmt.ident(col));
            let ph = stmt.bind(Value::Int(limit));
            ors.push(format!("{col} >= {ph}"));
        }
        if ors.is_empty() {
            notes.push(PageNote {
                code: "lockout_outside",
                title: c.title.clone(),
            });
            conds.push("1 = 0".into());
        } else {
            conds.push(format!("({})", ors.join(" OR ")));
        }
    }
    notes
}

/// Reads one account by primary key: the before-image of every write.
pub async fn read_by_pk(s: &mut Session, id: &Value) -> Result<Option<Account>, OpError> {
    let c = &s.connector;
    let mut stmt = Stmt::new(s.backend.dialect());
    select_accounts(&mut stmt, c, None);
    let id_col = stmt.ident(&c.columns.id);
    let ph = stmt.bind(id.clone());
    stmt.push(" WHERE t.").push(&id_col).push(" = ").push(&ph);
    let rows = s.backend.query(&stmt.text, &stmt.params).await?;
    Ok(rows.into_iter().next().map(|r| row_to_account(c, r)))
}

/// Reads many accounts by primary key in one statement (a batch's
/// before-images), in no particular order; missing keys are absent.
pub async fn read_by_pks(s: &mut Session, ids: &[Value]) -> Result<Vec<Account>, OpError> {
    let id = s.connector.columns.id.clone();
    find_in(s, &id, ids).await
}

/// Every account whose `column` (a mapped column) equals one of `values`
/// as the database compares, in one statement; callers check exactness.
pub async fn find_in(
    s: &mut Session,
    column: &str,
    values: &[Value],
) -> Result<Vec<Account>, OpError> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let c = &s.connector;
    let mut stmt = Stmt::new(s.backend.dialect());
    select_accounts(&mut stmt, c, None);
    let col = stmt.ident(column);
    let phs: Vec<String> = values.iter().map(|v| stmt.bind(v.clone())).collect();
    stmt.push(" WHERE t.")
        .push(&col)
        .push(&format!(" IN ({})", phs.join(", ")));
    let rows = s.backend.query(&stmt.text, &stmt.params).await?;
    Ok(rows.into_iter().map(|r| row_to_account(c, r)).collect())
}

/// Reads some columns of one row by primary key (the verification re-read
/// inside the transaction, reconcile); `None` when the row is gone.
pub async fn read_columns(
    s: &mut Session,
    id: &Value,
    columns: &[String],
) -> Result<Option<Vec<Value>>, OpError> {
    let c = &s.connector;
    let mut stmt = Stmt::new(s.backend.dialect());
    let cols: Vec<String> = columns.iter().map(|col| stmt.ident(col)).collect();
    let table = stmt.ident(&c.table_name());
    let id_col = stmt.ident(&c.columns.id);
    let ph = stmt.bind(id.clone());
    stmt.push(&format!(
        "SELECT {} FROM {table} WHERE {id_col} = {ph}",
        cols.join(", ")
    ));
    let rows = s.backend.query(&stmt.text, &stmt.params).await?;
    Ok(rows.into_iter().next())
}

/// One column of one row by primary key; NULL when the row is gone.
pub async fn read_column(s: &mut Session, id: &Value, column: &str) -> Result<Value, OpError> {
    let row = read_columns(s, id, &[column.to_string()]).await?;
    Ok(row
        .and_then(|r| r.into_iter().next())
        .unwrap_or(Value::Null))
}

/// Every account whose `column` (a mapped column of the connector) equals
/// `value` as the database compares; callers check exactness themselves.
pub async fn find_exact(
    s: &mut Session,
    column: &str,
    value: &str,
) -> Result<Vec<Account>, OpError> {
    let c = &s.connector;
    let mut stmt = Stmt::new(s.backend.dialect());
    select_accounts(&mut stmt, c, None);
    let col = stmt.ident(column);
    let ph = stmt.bind(Value::Text(value.to_string()));
    stmt.push(" WHERE t.").push(&col).push(" = ").push(&ph);
    let rows = s.backend.query(&stmt.text, &stmt.params).await?;
    Ok(rows.into_iter().map(|r| row_to_account(c, r)).collect())
}

/// Resolves an ACCOUNT argument: `#ID` for the primary key, otherwise the
/// exact login. The database may compare case-insensitively, so the exact
/// match is checked here; near misses are offered as candidates.
pub async fn resolve(s: &mut Session, account: &str) -> Result<Account, OpError> {
    if account.is_empty() {
        return Err(OpError::Usage(
            "ACCOUNT is empty: give a login or #ID".into(),
        ));
    }
    let c = s.connector.clone();
    if let Some(id) = account.strip_prefix('#') {
        // The database may coerce '1 OR 1=1' to 1 when comparing with a numeric
        // key; only a row whose key reads back exactly as typed counts.
        return read_by_pk(s, &Value::Text(id.to_string()))
            .await?
            .filter(|a| a.id_text() == id)
            .ok_or_else(|| {
                OpError::NotFound(Said::key(
                    "said.no_id",
                    &[
                        ("column", &c.columns.id),
                        ("id", &id),
                        ("table", &c.table_name()),
                    ],
                ))
            });
    }
    let mut stmt = Stmt::new(s.backend.dialect());
    select_accounts(&mut stmt, &c, None);
    let login_col = stmt.ident(&c.columns.login);
    let ph = stmt.bind(Value::Text(account.to_string()));
    stmt.push(" WHERE t.")
        .push(&login_col)
        .push(" = ")
        .push(&ph);
    let rows = s.backend.query(&stmt.text, &stmt.params).await?;
    let all: Vec<Account> = rows.into_iter().map(|r| row_to_account(&c, r)).collect();
    let exact: Vec<&Account> = all.iter().filter(|a| a.login == account).collect();
    match exact.len() {
        1 => Ok(exact[0].clone()),
        0 if all.is_empty() => Err(OpError::NotFound(Said::key(
            "said.no_login",
            &[("login", &account), ("table", &c.table_name())],
        ))),
        0 => Err(OpError::NotFound(Said::key(
            "said.no_exact_login",
            &[
                ("login", &account),
                (
                    "similar",
                    &all.iter()
                        .map(Account::label)
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ],
        ))),
        _ => {
            let candidates: Vec<String> = exact.iter().map(|a| a.label()).collect();
            Err(OpError::Ambiguous {
                message: Said::key(
                    "said.ambiguous_login",
                    &[
                        ("login", &account),
                        ("count", &candidates.len()),
                        ("candidates", &candidates.join(", ")),
                    ],
                ),
                candidates,
            })
        }
    }
}
