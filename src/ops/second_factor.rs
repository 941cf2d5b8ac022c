//! Second factors and external sign-in kept in the user row (connector
//! `[second_factor]`): a password reset alone does not let an account with one
//! of them in. Found for `show`, `check` and restore-admin; `--clear-2fa`
//! turns them off through the same guarded write (they join the plan's columns).

use std::collections::BTreeMap;

use serde::Serialize;

use super::sql::Stmt;
use super::{OpError, Session};
use crate::backend::Value;
use crate::connector::{WriteSpec, WriteValue};

/// One switch that is on for an account.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flag {
    pub column: String,
    /// What it is (the connector's `describe`), for the operator.
    pub what: String,
}

/// The switches that are on for the account with primary key `id`.
pub async fn active(s: &mut Session, id: &Value) -> Result<Vec<Flag>, OpError> {
    let c = s.connector.clone();
    let sf = &c.second_factor;
    if sf.clear.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = Stmt::new(s.backend.dialect());
    let cols: Vec<String> = sf.clear.keys().map(|k| stmt.ident(k)).collect();
    let t = stmt.ident(&c.table_name());
    let id_q = stmt.ident(&c.columns.id);
    let key = stmt.bind(id.clone());
    stmt.push(&format!(
        "SELECT {} FROM {t} WHERE {id_q} = {key}",
        cols.join(", ")
    ));
    let rows = s.backend.query(&stmt.text, &stmt.params).await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(Vec::new());
    };
    Ok(sf
        .clear
        .iter()
        .zip(row)
        .filter(|((_, off), value)| is_on(value, off))
        .map(|((col, _), _)| Flag {
            column: col.clone(),
            what: sf.describe.get(col).cloned().unwrap_or_else(|| col.clone()),
        })
        .collect())
}

/// The columns `--clear-2fa` writes.
pub fn clear_writes(s: &Session) -> BTreeMap<String, WriteValue> {
    s.connector.second_factor.clear.clone()
}

/// NULL, blank and the "off" value are off; anything else is on.
fn is_on(value: &Value, off: &WriteValue) -> bool {
    let Some(text) = value.as_text() else {
        return false;
    };
    let text = text.trim();
    if text.is_empty() {
        return false;
    }
    match off.spec() {
        WriteSpec::Int(0) => !matches!(text, "0" | "false" | "f"),
        WriteSpec::Int(i) => text != i.to_string(),
        WriteSpec::Text(t) => text != t,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_blank_and_the_off_value_are_off() {
        let null = WriteValue::Text("@null".into());
        assert!(!is_on(&Value::Null, &null));
        assert!(!is_on(&Value::Text("  ".into()), &null));
        assert!(is_on(&Value::Text("JBSWY3DPEHPK3PXP".into()), &null));
        let zero = WriteValue::Int(0);
        assert!(!is_on(&Value::Int(0), &zero));
        assert!(!is_on(&Value::Text("false".into()), &zero));
        assert!(is_on(&Value::Int(1), &zero));
    }
}
