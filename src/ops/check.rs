//! `connectors check`: does a connector fit a live database? Every problem
//! names the connector file, the key and the column.

use std::collections::BTreeMap;

use serde::Serialize;

use super::OpError;
use crate::backend::{Backend, ColumnInfo};
use crate::connector::{Connector, RoleLink, SchemeBySetting, WriteSpec};
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
    if !k.table(backend, &table).await? {
        k.problem(
            "table.name",
            format!("table `{table}` does not exist in this database"),
        );
    } else {
        let infos = k.mapped_columns(&table);
        k.check_scheme_widths(&infos);
        k.check_state_values(&table, &infos);
        if let Some(role) = &c.admin.role {
            k.check_role_tables(backend, role).await?;
        }
        k.check_written_columns(&table);
        k.check_copy_hash_to(&table, &infos);
        if let Some(by) = &c.scheme_by_setting {
            k.check_settings_table(backend, by).await?;
        }
    }
    Ok(CheckReport {
        connector: c.name.clone(),
        file: c.source.clone(),
        table,
        problems: k.problems,
    })
}

impl Checker<'_> {
    /// Every mapped column that exists, by role; login, password and salt must hold text.
    fn mapped_columns(&mut self, table: &str) -> BTreeMap<&'static str, ColumnInfo> {
        let c = self.c;
        let mut infos = BTreeMap::new();
        for (role, col) in c.columns.mapped() {
            if let Some(info) = self.column(&format!("columns.{role}"), table, col) {
                infos.insert(role, info);
            }
        }
        for role in ["login", "password", "salt"] {
            if let Some(info) = infos.get(role).cloned() {
                self.expect_type(
                    &format!("columns.{role}"),
                    &info,
                    TEXT_TYPES,
                    "a text column",
                );
            }
        }
        infos
    }

    /// The scheme's own output decides how wide password and salt must be.
    fn check_scheme_widths(&mut self, infos: &BTreeMap<&str, ColumnInfo>) {
        let Ok(scheme) = self.c.scheme() else {
            return;
        };
        let probe = Password::new("Probe#Width-2024".into());
        let input = AccountInput {
            login: "administrator",
            salt: None,
        };
        if let Ok(h) = scheme.hash(&probe, &input) {
            if let Some(info) = infos.get("password") {
                self.expect_len(
                    "columns.password",
                    info,
                    h.stored.len(),
                    "the scheme's value",
                );
            }
            if let (Some(salt), Some(info)) = (&h.salt, infos.get("salt")) {
                self.expect_len("columns.salt", info, salt.len(), "the scheme's salt");
            }
        }
    }

    /// The status, deleted and admin-flag values fit their columns.
    fn check_state_values(&mut self, table: &str, infos: &BTreeMap<&str, ColumnInfo>) {
        let c = self.c;
        if let Some(info) = infos.get("status") {
            let values: Vec<String> = c
                .states
                .enabled
                .iter()
                .chain(&c.states.disabled)
                .cloned()
                .collect();
            self.expect_values_fit("states.enabled", info, &values);
        }
        if let Some(info) = infos.get("deleted") {
            self.expect_values_fit("states.deleted", info, &c.states.deleted);
        }
        if let Some(flag) = &c.admin.flag
            && let Some(info) = self.column("admin.flag.column", table, &flag.column)
        {
            self.expect_values_fit("admin.flag.values", &info, &flag.values);
        }
    }

    /// The role-link table and, when declared, the role table with its columns.
    async fn check_role_tables(
        &mut self,
        backend: &mut dyn Backend,
        role: &RoleLink,
    ) -> Result<(), OpError> {
        let link = self.c.prefixed(&role.table);
        if self.table(backend, &link).await? {
            self.column("admin.role.user_column", &link, &role.user_column);
            self.column("admin.role.role_column", &link, &role.role_column);
        } else {
            self.problem(
                "admin.role.table",
                format!("table `{link}` does not exist in this database"),
            );
        }
        if let (Some(rt), Some(rid), Some(rkey)) =
            (&role.role_table, &role.role_table_id, &role.role_table_key)
        {
            let rt = &self.c.prefixed(rt);
            if self.table(backend, rt).await? {
                self.column("admin.role.role_table_id", rt, rid);
                self.column("admin.role.role_table_key", rt, rkey);
                for col in role.role_table_where.keys() {
                    self.column(&format!("admin.role.role_table_where.{col}"), rt, col);
                }
            } else {
                self.problem(
                    "admin.role.role_table",
                    format!("table `{rt}` does not exist in this database"),
                );
            }
        }
        Ok(())
    }

    /// Every column a reset, unlock or emergency restore writes exists and takes its value.
    fn check_written_columns(&mut self, table: &str) {
        let c = self.c;
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
                _ => table.to_string(),
            };
            for (col, value) in map {
                let key = format!("{section}.{col}");
                let Some(info) = self.column(&key, &in_table, col) else {
                    continue;
                };
                match value.spec() {
                    WriteSpec::Now => {
                        self.expect_type(&key, &info, TIME_TYPES, "a date/time column for @now")
                    }
                    WriteSpec::Null if !info.nullable => self.problem(
                        &key,
                        format!("column `{col}` is NOT NULL but @null is written"),
                    ),
                    WriteSpec::Text(t) => self.expect_values_fit(&key, &info, &[t]),
                    WriteSpec::Uuid32 => self.expect_len(&key, &info, 32, "@uuid32"),
                    WriteSpec::Guid => self.expect_type(
                        &key,
                        &info,
                        &["uniqueidentifier", "char", "nchar", "varchar", "nvarchar"],
                        "a uniqueidentifier column for @guid",
                    ),
                    WriteSpec::UnixNow => {
                        self.expect_type(&key, &info, INT_TYPES, "an integer column for @unixnow")
                    }
                    _ => {}
                }
            }
        }
    }

    /// Each copy of the hash holds text at least as wide as the password column.
    fn check_copy_hash_to(&mut self, table: &str, infos: &BTreeMap<&str, ColumnInfo>) {
        let c = self.c;
        for (i, col) in c.reset.copy_hash_to.iter().enumerate() {
            let key = format!("reset.copy_hash_to[{i}]");
            if let Some(info) = self.column(&key, table, col) {
                self.expect_type(&key, &info, TEXT_TYPES, "a text column");
                if let Some(pw) = infos.get("password")
                    && let (Some(have), Some(need)) = (info.max_chars, pw.max_chars)
                    && have < need
                {
                    self.problem(
                        &key,
                        format!(
                            "column `{col}` holds {have} characters but the password column holds {need}"
                        ),
                    );
                }
            }
        }
    }

    /// The settings table that picks the scheme, and its name and value columns.
    async fn check_settings_table(
        &mut self,
        backend: &mut dyn Backend,
        by: &SchemeBySetting,
    ) -> Result<(), OpError> {
        let st = self.c.prefixed(&by.table);
        if self.table(backend, &st).await? {
            self.column("scheme_by_setting.name_column", &st, &by.name_column);
            self.column("scheme_by_setting.value_column", &st, &by.value_column);
        } else {
            self.problem(
                "scheme_by_setting.table",
                format!("settings table `{st}` does not exist in this database"),
            );
        }
        Ok(())
    }
}
