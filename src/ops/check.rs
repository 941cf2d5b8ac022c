//! `connectors check`: does a connector fit a live database? Every problem
//! names the connector file, the key and the column.

use std::collections::BTreeMap;

use serde::Serialize;

use super::OpError;
use crate::backend::{Backend, ColumnInfo};
use crate::connector::{Connector, WriteSpec};
use crate::schemes::AccountInput;
use crate::secret::Password;

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub connector: String,
    pub file: String,
    pub table: String,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

const TEXT_TYPES: &[&str] = &[
    "char",
    "character varying",
    "bytea",
    "varchar",
    "text",
    "tinytext",
    "mediumtext",
    "longtext",
    "nchar",
    "nvarchar",
    "binary",
    "varbinary",
    "blob",
];
const INT_TYPES: &[&str] = &[
    "tinyint",
    "int2",
    "int4",
    "int8",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
    "bit",
];
const TIME_TYPES: &[&str] = &["datetime", "timestamp", "timestamptz", "date", "datetime2"];

struct Checker<'a> {
    c: &'a Connector,
    problems: Vec<Problem>,
    tables: BTreeMap<String, Vec<ColumnInfo>>,
}

impl Checker<'_> {
    fn problem(&mut self, key: &str, message: String) {
        self.problems.push(Problem {
            key: key.to_string(),
            message,
        });
    }

    async fn table(&mut self, backend: &mut dyn Backend, table: &str) -> Result<bool, OpError> {
        if !self.tables.contains_key(table) {
            let cols = backend.columns(table).await?;
            self.tables.insert(table.to_string(), cols);
        }
        Ok(self.tables.get(table).is_some_and(|c| !c.is_empty()))
    }

    fn column(&mut self, key: &str, table: &str, column: &str) -> Option<ColumnInfo> {
        let found = self
            .tables
            .get(table)
            .and_then(|cols| cols.iter().find(|c| c.name.eq_ignore_ascii_case(column)))
            .cloned();
        if found.is_none() {
            self.problem(
                key,
                format!("column `{column}` does not exist in table `{table}`"),
            );
        }
        found
    }

    fn expect_type(&mut self, key: &str, col: &ColumnInfo, kinds: &[&str], what: &str) {
        if !kinds.contains(&col.data_type.as_str()) {
            self.problem(
                key,
                format!(
                    "column `{}` is {}, expected {what}",
                    col.name, col.data_type
                ),
            );
        }
    }

    fn expect_len(&mut self, key: &str, col: &ColumnInfo, needed: usize, what: &str) {
        if let Some(max) = col.max_chars
            && (max as usize) < needed
        {
            self.problem(
                key,
                format!(
                    "column `{}` holds {max} characters but {what} needs {needed}",
                    col.name
                ),
            );
        }
    }

    fn expect_values_fit(&mut self, key: &str, col: &ColumnInfo, values: &[String]) {
        if INT_TYPES.contains(&col.data_type.as_str()) {
            for v in values {
                if v.parse::<i64>().is_err() {
                    self.problem(
                        key,
                        format!("value `{v}` does not fit integer column `{}`", col.name),
                    );
                }
            }
        }
    }
}

/// Checks one connector against the connected database.
/// `connectors check`: connects without picking a connector (checking is how
/// one is picked) and checks the named one, or every one for the engine.
pub async fn check_target(
    spec: &super::connect::ConnectSpec,
    all: &[Connector],
) -> Result<Vec<CheckReport>, OpError> {
    let (mut backend, _) = super::connect::open_backend(spec).await?;
    let candidates: Vec<Connector> = match &spec.connector {
        Some(name) => vec![crate::connector::find(all, name)?],
        None => all
            .iter()
            .filter(|c| c.engines.iter().any(|e| e == backend.engine()))
            .cloned()
            .collect(),
    };
    let mut reports = Vec::new();
    for c in &candidates {
        reports.push(check(backend.as_mut(), c).await?);
    }
    backend.close().await?;
    Ok(reports)
}

pub async fn check(backend: &mut dyn Backend, c: &Connector) -> Result<CheckReport, OpError> {
    let table = c.table_name();
    let mut k = Checker {
        c,
        problems: Vec::new(),
        tables: BTreeMap::new(),
    };
    let report = |k: Checker| CheckReport {
        connector: c.name.clone(),
        file: c.source.clone(),
        table: table.clone(),
        problems: k.problems,
    };
    if !k.table(backend, &table).await? {
        k.problem(
            "table.name",
            format!("table `{table}` does not exist in this database"),
        );
        return Ok(report(k));
    }
    let mut infos: BTreeMap<&str, ColumnInfo> = BTreeMap::new();
    for (role, col) in c.columns.mapped() {
        if let Some(info) = k.column(&format!("columns.{role}"), &table, col) {
            infos.insert(role, info);
        }
    }
    for role in ["login", "password", "salt"] {
        if let Some(info) = infos.get(role).cloned() {
            k.expect_type(
                &format!("columns.{role}"),
                &info,
                TEXT_TYPES,
                "a text column",
            );
        }
    }
    // The scheme's own output decides how wide password and salt must be.
    if let Ok(scheme) = c.scheme() {
        let probe = Password::new("Probe#Width-2024".into());
        let input = AccountInput {
            login: "administrator",
            salt: None,
        };
        if let Ok(h) = scheme.hash(&probe, &input) {
            if let Some(info) = infos.get("password").cloned() {
                k.expect_len(
                    "columns.password",
                    &info,
                    h.stored.len(),
                    "the scheme's value",
                );
            }
            if let (Some(salt), Some(info)) = (&h.salt, infos.get("salt").cloned()) {
                k.expect_len("columns.salt", &info, salt.len(), "the scheme's salt");
            }
        }
    }
    if let Some(info) = infos.get("status").cloned() {
        let values: Vec<String> = c
            .states
            .enabled
            .iter()
            .chain(&c.states.disabled)
            .cloned()
            .collect();
        k.expect_values_fit("states.enabled", &info, &values);
    }
    if let Some(info) = infos.get("deleted").cloned() {
        let values = c.states.deleted.clone();
        k.expect_values_fit("states.deleted", &info, &values);
    }
    if let Some(flag) = &c.admin.flag
        && let Some(info) = k.column("admin.flag.column", &table, &flag.column)
    {
        k.expect_values_fit("admin.flag.values", &info, &flag.values);
    }
    if let Some(role) = &c.admin.role {
        let link = c.prefixed(&role.table);
        if k.table(backend, &link).await? {
            k.column("admin.role.user_column", &link, &role.user_column);
            k.column("admin.role.role_column", &link, &role.role_column);
        } else {
            k.problem(
                "admin.role.table",
                format!("table `{link}` does not exist in this database"),
            );
        }
        if let (Some(rt), Some(rid), Some(rkey)) =
            (&role.role_table, &role.role_table_id, &role.role_table_key)
        {
            let rt = &c.prefixed(rt);
            if k.table(backend, rt).await? {
                k.column("admin.role.role_table_id", rt, rid);
                k.column("admin.role.role_table_key", rt, rkey);
                for col in role.role_table_where.keys() {
                    k.column(&format!("admin.role.role_table_where.{col}"), rt, col);
                }
            } else {
                k.problem(
                    "admin.role.role_table",
                    format!("table `{rt}` does not exist in this database"),
                );
            }
        }
    }
    for (section, map) in [
        ("reset.set", &c.reset.set),
        ("reset.must_change", &c.reset.must_change),
        ("unlock.set", &c.unlock.set),
        ("emergency.undelete", &c.emergency.undelete),
        ("emergency.enable", &c.emergency.enable),
        ("emergency.create", &c.emergency.create),
        ("emergency.link", &c.emergency.link),
    ] {
        // The role-link template's columns live in the link table.
        let in_table = match (section, &c.admin.role) {
            ("emergency.link", Some(role)) => c.prefixed(&role.table),
            _ => table.clone(),
        };
        for (col, value) in map {
            let key = format!("{section}.{col}");
            let Some(info) = k.column(&key, &in_table, col) else {
                continue;
            };
            match value.spec() {
                WriteSpec::Now => {
                    k.expect_type(&key, &info, TIME_TYPES, "a date/time column for @now")
                }
                WriteSpec::Null if !info.nullable => k.problem(
                    &key,
                    format!("column `{col}` is NOT NULL but @null is written"),
                ),
                WriteSpec::Text(t) => k.expect_values_fit(&key, &info, &[t]),
                WriteSpec::Uuid32 => k.expect_len(&key, &info, 32, "@uuid32"),
                _ => {}
            }
        }
    }
    for (i, col) in c.reset.copy_hash_to.iter().enumerate() {
        let key = format!("reset.copy_hash_to[{i}]");
        if let Some(info) = k.column(&key, &table, col) {
            k.expect_type(&key, &info, TEXT_TYPES, "a text column");
            if let Some(pw) = infos.get("password").cloned()
                && let (Some(have), Some(need)) = (info.max_chars, pw.max_chars)
                && have < need
            {
                k.problem(
                    &key,
                    format!(
                        "column `{col}` holds {have} characters but the password column holds {need}"
                    ),
                );
            }
        }
    }
    if let Some(by) = &c.scheme_by_setting {
        let st = c.prefixed(&by.table);
        if k.table(backend, &st).await? {
            k.column("scheme_by_setting.name_column", &st, &by.name_column);
            k.column("scheme_by_setting.value_column", &st, &by.value_column);
        } else {
            k.problem(
                "scheme_by_setting.table",
                format!("settings table `{st}` does not exist in this database"),
            );
        }
    }
    let _ = k.c;
    Ok(report(k))
}
