//! Which rows of which tables a rewritten statement touches, for row locks:
//! a table whose WHERE pins its primary key (`pk = @P1` / `pk = N'x'`, in any
//! AND position) is read by a seek of that key; any other access is a scan
//! of every row, as SQL Server's plan would be on a table with no other index.

use sqlparser::ast::{
    BinaryOperator, Expr, FromTable, InTarget, ObjectName, Query, SetExpr, Statement, TableFactor,
    TableObject, TableWithJoins, UnaryOperator,
};

/// One table reference.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The SQLite table name (after rewriting).
    pub table: String,
    /// The name the statement uses for it (alias or table).
    pub qualifier: String,
    /// The WHERE of the SELECT/UPDATE/DELETE it appears in.
    pub selection: Option<Expr>,
    /// Upper-case table hints (`UPDLOCK`, `NOLOCK`, …).
    pub hints: Vec<String>,
}

/// What a statement does to the table it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Insert,
    Update,
    Delete,
}

fn last_part(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

fn hint_words(hints: &[Expr]) -> Vec<String> {
    hints.iter().map(|h| h.to_string().to_uppercase()).collect()
}

fn factor(tf: &TableFactor, selection: Option<&Expr>, out: &mut Vec<Scan>) {
    match tf {
        TableFactor::Table {
            name,
            alias,
            with_hints,
            ..
        } => {
            let table = last_part(name);
            out.push(Scan {
                qualifier: alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| table.clone()),
                table,
                selection: selection.cloned(),
                hints: hint_words(with_hints),
            });
        }
        TableFactor::Derived { subquery, .. } => query(subquery, out),
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => joined(table_with_joins, None, out),
        _ => {}
    }
}

fn joined(twj: &TableWithJoins, selection: Option<&Expr>, out: &mut Vec<Scan>) {
    factor(&twj.relation, selection, out);
    for j in &twj.joins {
        factor(&j.relation, None, out);
    }
}

/// Subqueries inside an expression (EXISTS, IN (SELECT …), scalar subqueries).
fn subqueries(e: &Expr, out: &mut Vec<Scan>) {
    match e {
        Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => query(subquery, out),
        Expr::In { expr, target, .. } => {
            subqueries(expr, out);
            if let InTarget::Subquery(q) = target {
                query(q, out);
            }
        }
        Expr::BinaryOp { left, right, .. } => {
            subqueries(left, out);
            subqueries(right, out);
        }
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) => subqueries(expr, out),
        _ => {}
    }
}

fn set_expr(body: &SetExpr, out: &mut Vec<Scan>) {
    match body {
        SetExpr::Select(sel) => {
            for (i, twj) in sel.from.iter().enumerate() {
                // Only a single-table FROM can seek by the WHERE's key.
                let selection = (i == 0 && sel.from.len() == 1 && twj.joins.is_empty())
                    .then_some(sel.selection.as_ref())
                    .flatten();
                joined(twj, selection, out);
            }
            if let Some(w) = &sel.selection {
                subqueries(w, out);
            }
        }
        SetExpr::Query(q) => query(q, out),
        SetExpr::SetOperation { left, right, .. } => {
            set_expr(left, out);
            set_expr(right, out);
        }
        _ => {}
    }
}

fn query(q: &Query, out: &mut Vec<Scan>) {
    set_expr(&q.body, out);
}

/// The tables a statement reads (the SELECT, an INSERT's source, subqueries).
pub fn reads(st: &Statement) -> Vec<Scan> {
    let mut out = Vec::new();
    match st {
        Statement::Query(q) => query(q, &mut out),
        Statement::Insert(i) => {
            if let Some(src) = &i.source {
                query(src, &mut out);
            }
        }
        Statement::Update(u) => {
            if let Some(w) = &u.selection {
                subqueries(w, &mut out);
            }
        }
        Statement::Delete(d) => {
            if let Some(w) = &d.selection {
                subqueries(w, &mut out);
            }
        }
        _ => {}
    }
    out
}

/// The table a statement writes, how, and its WHERE.
pub fn write(st: &Statement) -> Option<(Write, Scan)> {
    match st {
        Statement::Insert(i) => {
            let TableObject::TableName(name) = &i.table else {
                return None;
            };
            let table = last_part(name);
            Some((
                Write::Insert,
                Scan {
                    qualifier: table.clone(),
                    table,
                    selection: None,
                    hints: Vec::new(),
                },
            ))
        }
        Statement::Update(u) => {
            let mut v = Vec::new();
            factor(&u.table.relation, u.selection.as_ref(), &mut v);
            v.into_iter().next().map(|s| (Write::Update, s))
        }
        Statement::Delete(d) => {
            let tables = match &d.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            let mut v = Vec::new();
            factor(&tables.first()?.relation, d.selection.as_ref(), &mut v);
            v.into_iter().next().map(|s| (Write::Delete, s))
        }
        _ => None,
    }
}

/// A value that does not depend on the row: literals and parameters.
fn constant(e: &Expr) -> bool {
    match e {
        Expr::Value(_) => true,
        Expr::Identifier(i) => i.value.starts_with('@'),
        Expr::Nested(x) | Expr::Cast { expr: x, .. } => constant(x),
        Expr::UnaryOp { op, expr } => matches!(op, UnaryOperator::Minus) && constant(expr),
        _ => false,
    }
}

fn names_column(e: &Expr, column: &str, qualifier: &str) -> bool {
    match e {
        Expr::Identifier(i) => i.value.eq_ignore_ascii_case(column),
        Expr::CompoundIdentifier(parts) => {
            parts
                .last()
                .is_some_and(|c| c.value.eq_ignore_ascii_case(column))
                && parts
                    .get(parts.len().wrapping_sub(2))
                    .is_none_or(|q| q.value.eq_ignore_ascii_case(qualifier))
        }
        Expr::Nested(x) => names_column(x, column, qualifier),
        _ => false,
    }
}

/// The value the WHERE pins `column` to (`column = v` in an AND chain).
pub fn pinned_key(selection: &Expr, column: &str, qualifier: &str) -> Option<Expr> {
    match selection {
        Expr::Nested(x) => pinned_key(x, column, qualifier),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => pinned_key(left, column, qualifier).or_else(|| pinned_key(right, column, qualifier)),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            if names_column(left, column, qualifier) && constant(right) {
                Some((**right).clone())
            } else if names_column(right, column, qualifier) && constant(left) {
                Some((**left).clone())
            } else {
                None
            }
        }
        _ => None,
    }
}
