//! T-SQL (MsSqlDialect AST) → SQLite rewriting.

use std::collections::HashMap;
use std::ops::ControlFlow;

use rusqlite::types::Value as SqlValue;
use sqlparser::ast::{
    ColumnOption, ColumnOptionDef, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, LimitClause, ObjectName, ObjectNamePart, Offset, OffsetRows, Query, SelectItem, SetExpr,
    Statement, TopQuantity, Value, ValueWithSpan, VisitMut, VisitorMut, visit_expressions_mut,
    visit_relations_mut,
};
use sqlparser::dialect::MsSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::UpdatePermission;
use super::wire::ColType;

/// An error to send as a TDS ERROR token.
#[derive(Debug, Clone)]
pub struct TdsError {
    pub number: u32,
    pub class: u8,
    pub msg: String,
}

impl TdsError {
    pub fn new(number: u32, msg: impl Into<String>) -> Self {
        TdsError {
            number,
            class: 16,
            msg: msg.into(),
        }
    }
    pub fn unsupported(what: impl std::fmt::Display) -> Self {
        TdsError::new(
            50000,
            format!("The Locksmith TDS test endpoint does not support {what}."),
        )
    }
}

/// `(statement, sqlparser error)` for each statement that MsSqlDialect rejects.
pub fn unparsable_statements(stmts: &[String]) -> Vec<(String, String)> {
    stmts
        .iter()
        .filter_map(|s| match Parser::parse_sql(&MsSqlDialect {}, s) {
            Ok(_) => None,
            Err(e) => Some((s.clone(), e.to_string())),
        })
        .collect()
}

/// Splits a T-SQL script at lines consisting of `GO` (case-insensitive).
pub fn split_go_batches(tsql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in tsql.lines() {
        if line.trim().eq_ignore_ascii_case("go") {
            if !cur.trim().is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

const FETCH_SENTINEL: u64 = 987_654_321_000;

/// Parses a batch into statements. Statements may be separated by `;` or by
/// nothing at all (newlines), as T-SQL allows. `FETCH NEXT @p ROWS ONLY`, which
/// MsSqlDialect rejects, is accepted through a sentinel literal.
pub fn parse_batch(text: &str) -> Result<(Vec<Statement>, HashMap<u64, String>), TdsError> {
    let dialect = MsSqlDialect {};
    let mut fetch_params = HashMap::new();
    let text = rewrite_fetch_params(text, &mut fetch_params);
    let syntax =
        |e: sqlparser::parser::ParserError| TdsError::new(102, format!("Incorrect syntax: {e}"));
    let mut p = Parser::new(&dialect).try_with_sql(&text).map_err(syntax)?;
    let mut stmts = Vec::new();
    loop {
        while p.consume_token(&Token::SemiColon) {}
        if p.peek_token().token == Token::EOF {
            break;
        }
        stmts.push(p.parse_statement().map_err(syntax)?);
    }
    Ok((stmts, fetch_params))
}

/// Replaces the `@param` of `FETCH NEXT|FIRST @param` by a sentinel number
/// (MsSqlDialect only accepts a literal there), remembering the parameter.
/// Skips string literals, bracketed identifiers and comments.
fn rewrite_fetch_params(text: &str, fetch: &mut HashMap<u64, String>) -> String {
    let b = text.as_bytes();
    let len = b.len();
    let mut out = String::with_capacity(len);
    let mut last_copy = 0;
    let (mut prev2, mut prev1): (Option<String>, Option<String>) = (None, None);
    let is_word =
        |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@' | b'#' | b'$') || c >= 0x80;
    let mut i = 0;
    while i < len {
        let c = b[i];
        let next = b.get(i + 1).copied().unwrap_or(0);
        if c == b'\'' || c == b'[' || c == b'"' {
            let close = match c {
                b'[' => b']',
                other => other,
            };
            i += 1;
            while i < len {
                if b[i] == close {
                    if b.get(i + 1) == Some(&close) {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            (prev2, prev1) = (prev1, None);
        } else if c == b'-' && next == b'-' {
            while i < len && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && next == b'*' {
            i += 2;
            while i < len && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(len);
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if is_word(c) {
            let s = i;
            while i < len && is_word(b[i]) {
                i += 1;
            }
            let w = &text[s..i];
            if w.starts_with('@')
                && !w.starts_with("@@")
                && prev2.as_deref() == Some("FETCH")
                && matches!(prev1.as_deref(), Some("NEXT") | Some("FIRST"))
            {
                let n = FETCH_SENTINEL + fetch.len() as u64;
                fetch.insert(n, w.to_string());
                out.push_str(&text[last_copy..s]);
                out.push_str(&n.to_string());
                last_copy = i;
            }
            (prev2, prev1) = (prev1, Some(w.to_uppercase()));
        } else {
            (prev2, prev1) = (prev1, None);
            i += 1;
        }
    }
    out.push_str(&text[last_copy..]);
    out
}

/// Session facts a rewrite needs.
pub struct Ctx<'a> {
    pub database: &'a str,
    pub version: &'a str,
    pub user: &'a str,
    pub rowcount: i64,
    /// The number of the previous statement's error, 0 after success (`@@ERROR`).
    pub error: u32,
    pub trancount: u32,
    pub params: &'a HashMap<String, SqlValue>,
    pub fetch_params: &'a HashMap<u64, String>,
    pub perm: &'a UpdatePermission,
    pub tables: &'a [String],
}

/// What a result column is known to be before SQLite runs it.
#[derive(Debug, Clone, Default)]
pub struct Hint {
    pub ty: Option<ColType>,
    pub name: Option<String>,
}

fn lit_str(s: &str) -> Expr {
    Expr::Value(ValueWithSpan::from(Value::SingleQuotedString(
        s.to_string(),
    )))
}

fn lit_num(n: i64) -> Expr {
    Expr::Value(ValueWithSpan::from(Value::Number(n.to_string(), false)))
}

fn parse_expr(s: &str) -> Result<Expr, TdsError> {
    Parser::new(&MsSqlDialect {})
        .try_with_sql(s)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| {
            TdsError::new(
                102,
                format!("Incorrect syntax in rewritten expression: {e}"),
            )
        })
}

fn ident_of(part: &ObjectNamePart) -> Option<&Ident> {
    match part {
        ObjectNamePart::Identifier(i) => Some(i),
        _ => None,
    }
}

fn name_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| ident_of(p).map(|i| i.value.clone()).unwrap_or_default())
        .collect()
}

fn function_name(f: &sqlparser::ast::Function) -> String {
    name_parts(&f.name)
        .last()
        .cloned()
        .unwrap_or_default()
        .to_uppercase()
}

fn function_args(f: &sqlparser::ast::Function) -> Vec<Expr> {
    match &f.args {
        FunctionArguments::List(l) => l
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Result-column hints from the top-level SELECT list (before rewriting).
pub fn projection_hints(stmt: &Statement) -> Vec<Hint> {
    let Statement::Query(q) = stmt else {
        return Vec::new();
    };
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in &sel.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => return Vec::new(),
        };
        let mut h = Hint {
            ty: None,
            name: alias.clone(),
        };
        match expr {
            Expr::Identifier(i) if i.value.starts_with("@@") => {
                h.ty = Some(if i.value.eq_ignore_ascii_case("@@VERSION") {
                    ColType::NVarChar { plp: false }
                } else {
                    ColType::Int(4)
                });
                h.name.get_or_insert_with(String::new);
            }
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {}
            Expr::Function(f) => {
                h.ty = match function_name(f).as_str() {
                    "GETDATE" | "CURRENT_TIMESTAMP" => Some(ColType::DateTime),
                    "SYSDATETIME" => Some(ColType::DateTime2),
                    "DB_NAME" | "SCHEMA_NAME" | "SUSER_SNAME" | "USER_NAME" => {
                        Some(ColType::NVarChar { plp: false })
                    }
                    "HAS_PERMS_BY_NAME" | "COUNT" | "OBJECT_ID" | "LEN" => Some(ColType::Int(4)),
                    "NEWID" => Some(ColType::Guid),
                    _ => None,
                };
                h.name.get_or_insert_with(String::new);
            }
            _ => {
                h.name.get_or_insert_with(String::new);
            }
        }
        out.push(h);
    }
    out
}

fn canonical_table(ctx: &Ctx, raw: &str) -> Option<String> {
    let parts: Vec<String> = raw
        .split('.')
        .map(|p| {
            p.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        })
        .collect();
    if parts.len() == 3 && !parts[0].eq_ignore_ascii_case(ctx.database) {
        return None;
    }
    if parts.len() >= 2 {
        let schema = &parts[parts.len() - 2];
        if !schema.is_empty() && !schema.eq_ignore_ascii_case("dbo") {
            return None;
        }
    }
    let name = parts.last()?;
    ctx.tables
        .iter()
        .find(|t| t.eq_ignore_ascii_case(name))
        .cloned()
}

fn value_as_text(ctx: &Ctx, e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::NationalStringLiteral(s) => Some(s.clone()),
            Value::Placeholder(p) => match ctx.params.get(&p.to_lowercase()) {
                Some(SqlValue::Text(s)) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        },
        Expr::Identifier(i) if i.value.starts_with('@') && !i.value.starts_with("@@") => {
            match ctx.params.get(&i.value.to_lowercase()) {
                Some(SqlValue::Text(s)) => Some(s.clone()),
                _ => None,
            }
        }
        Expr::Nested(e) => value_as_text(ctx, e),
        _ => None,
    }
}

fn rewrite_name(ctx: &Ctx, name: &mut ObjectName) -> Result<(), TdsError> {
    let parts = name_parts(name);
    let display = name.to_string();
    let invalid = || TdsError::new(208, format!("Invalid object name '{display}'."));
    let (schema, table) = match parts.len() {
        1 => return Ok(()),
        2 => (parts[0].clone(), parts[1].clone()),
        3 => {
            if !parts[0].eq_ignore_ascii_case(ctx.database) {
                return Err(invalid());
            }
            (parts[1].clone(), parts[2].clone())
        }
        _ => return Err(invalid()),
    };
    let last = name
        .0
        .last()
        .and_then(ident_of)
        .cloned()
        .unwrap_or_else(|| Ident::new(&table));
    let new = if schema.is_empty() || schema.eq_ignore_ascii_case("dbo") {
        last
    } else if schema.eq_ignore_ascii_case("information_schema")
        && table.eq_ignore_ascii_case("columns")
    {
        Ident::new("information_schema_columns")
    } else if schema.eq_ignore_ascii_case("sys") && table.eq_ignore_ascii_case("columns") {
        Ident::new("sys_columns")
    } else {
        return Err(invalid());
    };
    *name = ObjectName::from(vec![new]);
    Ok(())
}

/// The built-in functions the endpoint knows, by their T-SQL names. Anything
/// else (SQLite's IFNULL, LENGTH, SUBSTR, INSTR, strftime, …) is error 195, as
/// on SQL Server.
const BUILT_INS: &[&str] = &[
    "GETDATE",
    "CURRENT_TIMESTAMP",
    "SYSDATETIME",
    "DB_NAME",
    "SCHEMA_NAME",
    "SUSER_SNAME",
    "USER_NAME",
    "SUSER_NAME",
    "ISNULL",
    "LEN",
    "OBJECT_ID",
    "HAS_PERMS_BY_NAME",
    "COUNT",
    "MAX",
    "MIN",
    "SUM",
    "AVG",
    "COALESCE",
    "NULLIF",
    "LOWER",
    "UPPER",
    "ABS",
    "ROW_NUMBER",
    "NEWID",
];

/// Table hints the endpoint models (tds/locks.rs); others are error 321.
pub const TABLE_HINTS: &[&str] = &[
    "NOLOCK",
    "READUNCOMMITTED",
    "READCOMMITTED",
    "UPDLOCK",
    "XLOCK",
    "ROWLOCK",
    "HOLDLOCK",
    "SERIALIZABLE",
    "REPEATABLEREAD",
    "NOWAIT",
];

fn rewrite_expr(ctx: &Ctx, e: &mut Expr) -> Result<(), TdsError> {
    match e {
        Expr::Identifier(i) if i.value.starts_with("@@") => {
            *e = match i.value.to_uppercase().as_str() {
                "@@VERSION" => lit_str(ctx.version),
                "@@ROWCOUNT" => lit_num(ctx.rowcount),
                "@@TRANCOUNT" => lit_num(ctx.trancount as i64),
                "@@SPID" => lit_num(51),
                "@@SERVERNAME" => lit_str("LOCKSMITH-TDS"),
                "@@ERROR" => lit_num(ctx.error as i64),
                other => {
                    return Err(TdsError::unsupported(format_args!(
                        "the global variable {other}"
                    )));
                }
            };
        }
        Expr::Value(v) => {
            if let Value::NationalStringLiteral(s) = &v.value {
                v.value = Value::SingleQuotedString(s.clone());
            }
        }
        Expr::Collate { collation, .. } => {
            let c = collation.to_string().to_uppercase();
            *collation = ObjectName::from(vec![Ident::new(
                if c.contains("_CS") || c.contains("_BIN") {
                    "BINARY"
                } else {
                    "NOCASE"
                },
            )]);
        }
        Expr::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char,
        } => {
            // SQLite's LIKE has no `[…]` classes: T-SQL's semantics in tds/like.rs.
            let escape = match escape_char {
                Some(e) => format!(", {e}"),
                None => String::new(),
            };
            let call = format!("tsql_like({expr}, {pattern}{escape})");
            *e = parse_expr(&if *negated {
                format!("NOT {call}")
            } else {
                call
            })?;
        }
        Expr::Substring {
            shorthand: true, ..
        } => {
            return Err(TdsError::new(
                195,
                "'SUBSTR' is not a recognized built-in function name.",
            ));
        }
        Expr::Substring { special: false, .. } => {
            return Err(TdsError::new(
                156,
                "Incorrect syntax near the keyword 'FROM'.",
            ));
        }
        Expr::Extract { .. } | Expr::Position { .. } | Expr::Overlay { .. } => {
            return Err(TdsError::new(
                195,
                format!("'{e}' is not a recognized built-in function name."),
            ));
        }
        Expr::ILike { .. } | Expr::Like { any: true, .. } | Expr::SimilarTo { .. } => {
            return Err(TdsError::new(102, "Incorrect syntax near 'ILIKE'."));
        }
        Expr::Function(f) => {
            let args = function_args(f);
            let name = function_name(f);
            if !BUILT_INS.contains(&name.as_str()) {
                return Err(TdsError::new(
                    195,
                    format!("'{name}' is not a recognized built-in function name."),
                ));
            }
            match name.as_str() {
                "GETDATE" | "CURRENT_TIMESTAMP" => *e = parse_expr("datetime('now', 'localtime')")?,
                // A version 4 GUID, uppercase 8-4-4-4-12 as SQL Server shows them.
                "NEWID" => *e = parse_expr(NEWID_SQLITE)?,
                "SYSDATETIME" => {
                    *e = parse_expr("strftime('%Y-%m-%d %H:%M:%f', 'now', 'localtime')")?
                }
                "DB_NAME" => *e = lit_str(ctx.database),
                "SCHEMA_NAME" => *e = lit_str("dbo"),
                "SUSER_SNAME" | "USER_NAME" | "SUSER_NAME" => *e = lit_str(ctx.user),
                "ISNULL" => f.name = ObjectName::from(vec![Ident::new("ifnull")]),
                // LEN ignores trailing blanks.
                "LEN" => match args.first() {
                    Some(a) => *e = parse_expr(&format!("length(rtrim({a}))"))?,
                    None => {
                        return Err(TdsError::new(
                            174,
                            "The len function requires 1 argument(s).",
                        ));
                    }
                },
                "OBJECT_ID" => {
                    let t = args
                        .first()
                        .and_then(|a| value_as_text(ctx, a))
                        .and_then(|n| canonical_table(ctx, &n));
                    *e = match t {
                        Some(t) => lit_str(&t),
                        None => Expr::Value(ValueWithSpan::from(Value::Null)),
                    };
                }
                "HAS_PERMS_BY_NAME" => {
                    let perm = args
                        .get(2)
                        .and_then(|a| value_as_text(ctx, a))
                        .unwrap_or_default();
                    if !perm.eq_ignore_ascii_case("UPDATE") {
                        *e = lit_num(1);
                    } else if args.len() >= 4 {
                        *e = match ctx.perm {
                            UpdatePermission::All => lit_num(1),
                            UpdatePermission::None => lit_num(0),
                            UpdatePermission::Columns(cols) if cols.is_empty() => lit_num(0),
                            UpdatePermission::Columns(cols) => {
                                let list: Vec<String> = cols
                                    .iter()
                                    .map(|c| format!("'{}'", c.to_lowercase().replace('\'', "''")))
                                    .collect();
                                parse_expr(&format!(
                                    "(CASE WHEN lower({}) IN ({}) THEN 1 ELSE 0 END)",
                                    args[3],
                                    list.join(", ")
                                ))?
                            }
                        };
                    } else {
                        *e = lit_num(matches!(ctx.perm, UpdatePermission::All) as i64);
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
    Ok(())
}

struct QueryRewriter<'a, 'b> {
    ctx: &'a Ctx<'b>,
}

impl VisitorMut for QueryRewriter<'_, '_> {
    type Break = TdsError;

    /// `[a]]b]` has no escape in SQLite's brackets: render as `"a]b"`. (Only
    /// then: a double-quoted unknown column would silently become a string in SQLite.)
    fn post_visit_ident(&mut self, i: &mut Ident) -> ControlFlow<TdsError> {
        if i.quote_style == Some('[') && i.value.contains(']') {
            i.quote_style = Some('"');
        }
        ControlFlow::Continue(())
    }

    /// Table hints (`WITH (UPDLOCK, ROWLOCK)`, `NOLOCK`) drive the row locks
    /// (tds/scan.rs) and are removed before SQLite sees the text (`strip_hints`).
    fn pre_visit_table_factor(
        &mut self,
        tf: &mut sqlparser::ast::TableFactor,
    ) -> ControlFlow<TdsError> {
        if let sqlparser::ast::TableFactor::Table { with_hints, .. } = tf {
            for h in with_hints.iter() {
                let word = h.to_string().to_uppercase();
                if word == "READPAST" {
                    return ControlFlow::Break(TdsError::unsupported("the READPAST hint"));
                }
                if !TABLE_HINTS.contains(&word.as_str()) {
                    return ControlFlow::Break(TdsError::new(
                        321,
                        format!("'{word}' is not a recognized table hints option."),
                    ));
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<TdsError> {
        // T-SQL has no LIMIT; OFFSET needs ROWS and an ORDER BY, and excludes TOP.
        match &q.limit_clause {
            Some(LimitClause::LimitOffset { limit: Some(_), .. })
            | Some(LimitClause::OffsetCommaLimit { .. }) => {
                return ControlFlow::Break(TdsError::new(102, "Incorrect syntax near 'LIMIT'."));
            }
            Some(LimitClause::LimitOffset {
                offset: Some(o), ..
            }) => {
                if o.rows == OffsetRows::None {
                    return ControlFlow::Break(TdsError::new(
                        102,
                        format!("Incorrect syntax near '{}'.", o.value),
                    ));
                }
                if q.order_by.is_none() {
                    return ControlFlow::Break(TdsError::new(
                        102,
                        "Incorrect syntax near 'OFFSET'.",
                    ));
                }
                if let SetExpr::Select(sel) = q.body.as_ref()
                    && sel.top.is_some()
                {
                    return ControlFlow::Break(TdsError::new(
                        10741,
                        "A TOP can not be used in the same query or sub-query as a OFFSET.",
                    ));
                }
            }
            _ => {}
        }
        let mut limit: Option<Expr> = None;
        if let SetExpr::Select(sel) = q.body.as_mut()
            && let Some(top) = sel.top.take()
        {
            if top.percent || top.with_ties {
                return ControlFlow::Break(TdsError::unsupported("TOP ... PERCENT / WITH TIES"));
            }
            limit = top.quantity.map(|qty| match qty {
                TopQuantity::Expr(e) => e,
                TopQuantity::Constant(n) => lit_num(n as i64),
            });
        }
        if let Some(fetch) = q.fetch.take() {
            if fetch.percent || fetch.with_ties {
                return ControlFlow::Break(TdsError::unsupported("FETCH ... PERCENT / WITH TIES"));
            }
            let mut qty = fetch.quantity.unwrap_or_else(|| lit_num(1));
            if let Expr::Value(v) = &qty
                && let Value::Number(n, _) = &v.value
                && let Some(p) = n
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| self.ctx.fetch_params.get(&n))
            {
                qty = Expr::Value(ValueWithSpan::from(Value::Placeholder(p.clone())));
            }
            limit = Some(qty);
        }
        let (mut cur_limit, mut offset) = match q.limit_clause.take() {
            Some(LimitClause::LimitOffset { limit, offset, .. }) => (limit, offset),
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => (
                Some(limit),
                Some(Offset {
                    value: offset,
                    rows: OffsetRows::None,
                }),
            ),
            None => (None, None),
        };
        if limit.is_some() {
            cur_limit = limit;
        }
        if let Some(o) = offset.as_mut() {
            o.rows = OffsetRows::None;
            if cur_limit.is_none() {
                cur_limit = Some(lit_num(-1));
            }
        }
        if cur_limit.is_some() || offset.is_some() {
            q.limit_clause = Some(LimitClause::LimitOffset {
                limit: cur_limit,
                offset,
                limit_by: Vec::new(),
            });
        }
        ControlFlow::Continue(())
    }
}

fn sqlite_type(dt: &DataType) -> (DataType, bool) {
    let s = dt.to_string();
    let upper = s.to_uppercase();
    let text = upper.contains("CHAR") || upper.contains("TEXT") || upper == "UNIQUEIDENTIFIER";
    let fixed = upper.replace("(MAX)", "(-1)");
    (
        DataType::Custom(ObjectName::from(vec![Ident::new(fixed)]), Vec::new()),
        text,
    )
}

/// NEWID() on SQLite: 16 random bytes as a version 4, variant 10xx GUID.
const NEWID_SQLITE: &str = "(SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-' || substr('89AB', 1 + (abs(random()) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12) FROM (SELECT hex(randomblob(16)) AS h))";

/// `uniqueidentifier` columns hold their GUID as text (compared without case,
/// as SQL Server compares GUIDs); anything but the 36-character form fails
/// the CHECK named `guid_check_<column>`, which the executor reports as error 8169.
fn guid_check(col: &str) -> Result<ColumnOptionDef, TdsError> {
    let hex = "[0-9A-Fa-f]";
    let pattern = [8, 4, 4, 4, 12]
        .iter()
        .map(|n| hex.repeat(*n))
        .collect::<Vec<_>>()
        .join("-");
    let quoted = format!("\"{}\"", col.replace('"', "\"\""));
    Ok(ColumnOptionDef {
        name: None,
        option: ColumnOption::Check(sqlparser::ast::CheckConstraint {
            name: Some(Ident::new(format!("guid_check_{col}"))),
            expr: Box::new(parse_expr(&format!(
                "{quoted} IS NULL OR tsql_like({quoted}, '{pattern}') = 1"
            ))?),
            no_inherit: false,
            enforced: None,
        }),
    })
}

/// Rewrites one statement in place for SQLite.
pub fn rewrite(stmt: &mut Statement, ctx: &Ctx) -> Result<(), TdsError> {
    if let ControlFlow::Break(e) = visit_relations_mut(stmt, |n| match rewrite_name(ctx, n) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    }) {
        return Err(e);
    }
    if let Statement::Drop { names, .. } = stmt {
        for n in names.iter_mut() {
            rewrite_name(ctx, n)?;
        }
    }
    if let ControlFlow::Break(e) = visit_expressions_mut(stmt, |x| match rewrite_expr(ctx, x) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    }) {
        return Err(e);
    }
    if let ControlFlow::Break(e) = stmt.visit(&mut QueryRewriter { ctx }) {
        return Err(e);
    }
    if let Statement::CreateTable(ct) = stmt {
        for col in ct.columns.iter_mut() {
            let (ty, text) = sqlite_type(&col.data_type);
            col.data_type = ty;
            let mut has_collation = false;
            let identity = col
                .options
                .iter()
                .any(|o| matches!(o.option, ColumnOption::Identity(_)));
            col.options
                .retain(|o| !matches!(o.option, ColumnOption::Identity(_)));
            // An IDENTITY primary key numbers itself as SQLite's INTEGER PRIMARY KEY does.
            if identity
                && col
                    .options
                    .iter()
                    .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)))
            {
                col.data_type =
                    DataType::Custom(ObjectName::from(vec![Ident::new("INTEGER")]), Vec::new());
            }
            for o in col.options.iter_mut() {
                if let ColumnOption::Collation(c) = &mut o.option {
                    let up = c.to_string().to_uppercase();
                    *c = ObjectName::from(vec![Ident::new(
                        if up.contains("_CS") || up.contains("_BIN") {
                            "BINARY"
                        } else {
                            "NOCASE"
                        },
                    )]);
                    has_collation = true;
                }
            }
            if text && !has_collation {
                col.options.push(ColumnOptionDef {
                    name: None,
                    option: ColumnOption::Collation(ObjectName::from(vec![Ident::new("NOCASE")])),
                });
            }
            if col
                .data_type
                .to_string()
                .eq_ignore_ascii_case("UNIQUEIDENTIFIER")
            {
                col.options.push(guid_check(&col.name.value)?);
            }
        }
    }
    Ok(())
}

/// Removes table hints, which SQLite does not parse (they were read first).
pub fn strip_hints(stmt: &mut Statement) {
    struct Strip;
    impl VisitorMut for Strip {
        type Break = ();
        fn pre_visit_table_factor(
            &mut self,
            tf: &mut sqlparser::ast::TableFactor,
        ) -> ControlFlow<()> {
            if let sqlparser::ast::TableFactor::Table { with_hints, .. } = tf {
                with_hints.clear();
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Strip);
}

/// Renders a rewritten statement as SQLite text.
pub fn render(stmt: &Statement) -> String {
    let s = stmt.to_string();
    if matches!(stmt, Statement::CreateTable(_) | Statement::CreateIndex(_)) {
        s.replace(" NONCLUSTERED", "").replace(" CLUSTERED", "")
    } else {
        s
    }
}

/// Column names an UPDATE assigns (lower-case), with its target table.
pub fn update_targets(stmt: &Statement) -> Option<(String, Vec<String>)> {
    let Statement::Update(u) = stmt else {
        return None;
    };
    let table = match &u.table.relation {
        sqlparser::ast::TableFactor::Table { name, .. } => {
            name_parts(name).last().cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    let cols = u
        .assignments
        .iter()
        .map(|a| match &a.target {
            sqlparser::ast::AssignmentTarget::ColumnName(n) => {
                name_parts(n).last().cloned().unwrap_or_default()
            }
            other => other.to_string(),
        })
        .collect();
    Some((table, cols))
}
