//! Connectors: data files that describe one vendor's user table, scheme,
//! admin rule and unlock writes. Shipped ones are embedded in the binary;
//! files in `<config dir>/locksmith/connectors/*.toml` add or override them.
//!
//! Every identifier is validated here, once, so that the backends can quote
//! them without ever seeing operator-typed text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::schemes::{self, SchemeSpec};

/// The connectors compiled into the binary: (file name, text).
pub const EMBEDDED: &[(&str, &str)] = &[
    ("jeecg.toml", include_str!("../../connectors/jeecg.toml")),
    ("ruoyi.toml", include_str!("../../connectors/ruoyi.toml")),
    (
        "ruoyi-vue.toml",
        include_str!("../../connectors/ruoyi-vue.toml"),
    ),
    (
        "wukong11.toml",
        include_str!("../../connectors/wukong11.toml"),
    ),
    (
        "suitecrm.toml",
        include_str!("../../connectors/suitecrm.toml"),
    ),
    ("vtiger.toml", include_str!("../../connectors/vtiger.toml")),
    (
        "espocrm.toml",
        include_str!("../../connectors/espocrm.toml"),
    ),
    (
        "dolibarr.toml",
        include_str!("../../connectors/dolibarr.toml"),
    ),
    ("crmeb.toml", include_str!("../../connectors/crmeb.toml")),
    (
        "wukong-php.toml",
        include_str!("../../connectors/wukong-php.toml"),
    ),
    ("odoo.toml", include_str!("../../connectors/odoo.toml")),
    ("u8.toml", include_str!("../../connectors/u8.toml")),
    (
        "dynamics-crm.toml",
        include_str!("../../connectors/dynamics-crm.toml"),
    ),
    (
        "kingdee-k3wise.toml",
        include_str!("../../connectors/kingdee-k3wise.toml"),
    ),
    (
        "kingdee-k3cloud.toml",
        include_str!("../../connectors/kingdee-k3cloud.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    #[error("no connector named `{0}`; `locksmith connectors list` shows the available ones")]
    Unknown(String),
    #[error("cannot read connector directory {path}: {reason}")]
    Dir { path: String, reason: String },
}

/// A value a connector writes: a literal, SQL NULL, or the current time.
/// In TOML: `"@null"`, `"@now"`, or any other string / integer literal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WriteValue {
    Int(i64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteSpec {
    Null,
    Now,
    Int(i64),
    Text(String),
    /// `"@login"`: the login of the row being re-created (emergency templates only).
    Login,
    /// `"@uuid32"`: 32 lowercase hex characters from the OS CSPRNG, for vendors
    /// whose keys are varchar ids without a default (emergency templates only).
    Uuid32,
    /// `"@unixnow"`: the current Unix time in seconds, for vendors that keep
    /// creation times in integer columns (emergency templates only).
    UnixNow,
    /// `"@guid"`: a random (version 4) GUID from the OS CSPRNG, in SQL Server's
    /// uppercase 8-4-4-4-12 form, for uniqueidentifier keys (emergency templates only).
    Guid,
}

impl WriteValue {
    pub fn spec(&self) -> WriteSpec {
        match self {
            WriteValue::Int(i) => WriteSpec::Int(*i),
            WriteValue::Text(s) if s == "@null" => WriteSpec::Null,
            WriteValue::Text(s) if s == "@now" => WriteSpec::Now,
            WriteValue::Text(s) if s == "@login" => WriteSpec::Login,
            WriteValue::Text(s) if s == "@uuid32" => WriteSpec::Uuid32,
            WriteValue::Text(s) if s == "@unixnow" => WriteSpec::UnixNow,
            WriteValue::Text(s) if s == "@guid" => WriteSpec::Guid,
            WriteValue::Text(s) => WriteSpec::Text(s.strip_prefix('@').unwrap_or(s).to_string()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub name: String,
    /// Vendors that let an install rename tables (`5kcrm_`, `llx_`) put the default here.
    #[serde(default)]
    pub prefix: Option<String>,
    /// SQL Server three-part names: the database (`UFSystem` in `UFSystem..UA_User`)
    /// when it is not the one in the target URL.
    #[serde(default)]
    pub database: Option<String>,
    /// The schema (`dbo`); empty means the login's default schema.
    #[serde(default)]
    pub schema: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub id: String,
    pub login: String,
    #[serde(default)]
    pub display: Option<String>,
    /// Empty only with `scheme.kind = "directory"`: the vendor keeps no password.
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub salt: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub deleted: Option<String>,
    #[serde(default)]
    pub locked: Option<String>,
    #[serde(default)]
    pub failed_count: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub must_change: Option<String>,
    #[serde(default)]
    pub password_changed: Option<String>,
    /// When the account last logged in (for `check`: dormant admins).
    #[serde(default)]
    pub last_login: Option<String>,
    /// The kind of access the account signs in with (Dynamics' AccessMode):
    /// only `states.full_access` values count as a working admin.
    #[serde(default)]
    pub access: Option<String>,
}

impl Columns {
    /// (role, column) for every mapped column, in display order.
    pub fn mapped(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![("id", self.id.as_str()), ("login", self.login.as_str())];
        let optional = [
            ("display", &self.display),
            ("email", &self.email),
            ("phone", &self.phone),
            ("status", &self.status),
            ("deleted", &self.deleted),
            ("locked", &self.locked),
            ("failed_count", &self.failed_count),
            ("must_change", &self.must_change),
            ("password_changed", &self.password_changed),
            ("last_login", &self.last_login),
            ("access", &self.access),
        ];
        for (role, col) in optional {
            if let Some(c) = col {
                out.push((role, c.as_str()));
            }
        }
        if !self.password.is_empty() {
            out.push(("password", self.password.as_str()));
        }
        if let Some(s) = &self.salt {
            out.push(("salt", s.as_str()));
        }
        out
    }
}

/// Which stored values mean what. Status values refer to `columns.status`,
/// deleted values to `columns.deleted`, locked values to `columns.locked`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct States {
    #[serde(default)]
    pub enabled: Vec<String>,
    #[serde(default)]
    pub disabled: Vec<String>,
    #[serde(default)]
    pub deleted: Vec<String>,
    #[serde(default)]
    pub locked: Vec<String>,
    /// Failed-login count at which the vendor locks the account.
    #[serde(default)]
    pub failed_limit: Option<i64>,
    /// Values of `columns.access` that mean full (read-write) access.
    #[serde(default)]
    pub full_access: Vec<String>,
}

/// Admins are rows with a listed primary key, a flag value, or a role link.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminRule {
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub flag: Option<FlagRule>,
    #[serde(default)]
    pub role: Option<RoleLink>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagRule {
    pub column: String,
    pub values: Vec<String>,
}

/// `table(user_column, role_column)` links users to roles. `roles` are values
/// of `role_column`, or, when `role_table` is given, values of
/// `role_table.role_table_key` joined through `role_table.role_table_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleLink {
    pub table: String,
    pub user_column: String,
    pub role_column: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub role_table: Option<String>,
    #[serde(default)]
    pub role_table_id: Option<String>,
    #[serde(default)]
    pub role_table_key: Option<String>,
    /// Extra equality conditions on `role_table` (column = value, values bound),
    /// e.g. Odoo's `ir_model_data`: `{ module = "base", model = "res.groups" }`.
    #[serde(default)]
    pub role_table_where: BTreeMap<String, String>,
    /// Columns of `role_table` that must equal the same account's columns of
    /// the user table (role table column = user table column), e.g. Dynamics'
    /// `{ BusinessUnitId = "BusinessUnitId" }`: each business unit has its own
    /// copy of a role, and a user may hold only its own unit's copy.
    #[serde(default)]
    pub role_table_match: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetSpec {
    /// Extra columns every reset writes (e.g. RuoYi's pwd_update_date).
    #[serde(default)]
    pub set: BTreeMap<String, WriteValue>,
    /// What `--must-change` writes instead / in addition.
    #[serde(default)]
    pub must_change: BTreeMap<String, WriteValue>,
    /// Columns that receive the same new stored value as the password column
    /// (vtiger's `confirm_password`). Secret like the password; guarded and verified.
    #[serde(default)]
    pub copy_hash_to: Vec<String>,
    /// Columns of `set` that hold secrets of their own (Kingdee K/3 WISE's
    /// `PasswordHashValue`, a second password hash): their values are shown
    /// and journaled only as fingerprints, like the password's.
    #[serde(default)]
    pub secret: Vec<String>,
}

/// A scheme chosen by a setting stored in the target database (Dolibarr's
/// `llx_const`): read when the session opens, named in every plan's warnings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemeBySetting {
    /// The settings table; the connector's table prefix applies (`const` → `llx_const`).
    pub table: String,
    /// Column holding the setting's name.
    pub name_column: String,
    /// Column holding the setting's value.
    pub value_column: String,
    /// The setting whose value selects the scheme. A missing row reads as "".
    pub setting: String,
    /// A setting whose value is the recipe's `salt` (an install-wide salt),
    /// never shown, journaled or fingerprinted in plans.
    #[serde(default)]
    pub salt_setting: Option<String>,
    pub cases: Vec<SettingCase>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingCase {
    /// Values of the setting (compared exactly) for which `scheme` applies.
    pub values: Vec<String>,
    pub scheme: SchemeSpec,
}

/// The emergency (break-glass) admin: which row it is, what "healthy" means
/// beyond the connector's states and admin rule, and how to re-create it.
/// Healthy = the row exists, is not soft-deleted, enabled, unlocked, and linked
/// to the first role of `admin.role` (when the connector has one).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencySpec {
    /// Primary key of the emergency admin; also the key of a re-created row.
    #[serde(default)]
    pub id: Option<String>,
    /// Its login when the row is found by login or re-created (`--account` overrides).
    #[serde(default)]
    pub login: Option<String>,
    /// What clears the soft-delete (column = value).
    #[serde(default)]
    pub undelete: BTreeMap<String, WriteValue>,
    /// What re-enables and unlocks it; empty means the connector's `unlock.set`.
    #[serde(default)]
    pub enable: BTreeMap<String, WriteValue>,
    /// Template of the row when it is gone: every column the vendor needs besides
    /// the id, login, password and salt (which Locksmith writes). `@login`,
    /// `@now`, `@null`, `@uuid32` are filled in.
    #[serde(default)]
    pub create: BTreeMap<String, WriteValue>,
    /// Extra columns of a re-created role-link row (besides the user and role columns).
    #[serde(default)]
    pub link: BTreeMap<String, WriteValue>,
}

impl EmergencySpec {
    pub fn declared(&self) -> bool {
        self.id.is_some() || self.login.is_some()
    }
}

/// Second factors and external sign-in the vendor keeps in the user row: a
/// restored admin with one of them on still cannot log in with the password
/// alone. `show`, `check` and restore-admin flag them; `--clear-2fa` writes `clear`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorSpec {
    /// column = the value that turns it off (`@null` for a secret column).
    /// A column holding NULL, '' or this value is off.
    #[serde(default)]
    pub clear: BTreeMap<String, WriteValue>,
    /// What each column means to the operator (column = text).
    #[serde(default)]
    pub describe: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockSpec {
    #[serde(default)]
    pub set: BTreeMap<String, WriteValue>,
}

/// `[disable]`: what the vendor's own admin screen writes when it disables a
/// user, and the predicate that tells a disabled row. A closed vendor whose
/// disable switch is not known says so in `unmapped` instead.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisableSpec {
    /// column = value, written by `disable` and `offboard`.
    #[serde(default)]
    pub set: BTreeMap<String, WriteValue>,
    /// column = the values that mean "disabled": a row is disabled when any
    /// listed column holds one of its values. Every `set` value satisfies it.
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
    /// Where live sessions and tokens live (disabling does not end them);
    /// `sessions_zh` is its Chinese text. Both join the connector's notes.
    #[serde(default)]
    pub sessions: Option<String>,
    #[serde(default)]
    pub sessions_zh: Option<String>,
    /// Why this connector maps no disable writes (the refusal says it).
    #[serde(default)]
    pub unmapped: Option<String>,
    #[serde(default)]
    pub unmapped_zh: Option<String>,
}

impl DisableSpec {
    /// The connector can disable an account.
    pub fn mapped(&self) -> bool {
        !self.set.is_empty()
    }

    /// The row is disabled: `value_of(column)` holds one of `when`'s values.
    pub fn is_disabled(&self, value_of: impl Fn(&str) -> Option<String>) -> bool {
        self.when
            .iter()
            .any(|(col, values)| value_of(col).is_some_and(|v| values.contains(&v)))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub versions: String,
    pub engines: Vec<String>,
    #[serde(default)]
    pub verification: String,
    #[serde(default)]
    pub notes: Vec<String>,
    /// The same notes in Simplified Chinese, one for one (the console and CLI
    /// show them when the language is zh).
    #[serde(default)]
    pub notes_zh: Vec<String>,
    #[serde(default)]
    pub default_passwords: Vec<String>,
    pub table: TableSpec,
    pub columns: Columns,
    #[serde(default)]
    pub states: States,
    pub scheme: SchemeSpec,
    /// Older formats the vendor still accepts at login: a stored value in one
    /// of them is recognised (show, calibrate) and replaced by a reset without --force.
    #[serde(default)]
    pub older_formats: Vec<SchemeSpec>,
    /// The scheme depends on a setting in the database (overrides `scheme` at session open).
    #[serde(default)]
    pub scheme_by_setting: Option<SchemeBySetting>,
    #[serde(default)]
    pub admin: AdminRule,
    #[serde(default)]
    pub reset: ResetSpec,
    #[serde(default)]
    pub unlock: UnlockSpec,
    /// What disabling a user writes (`disable`, `offboard`).
    #[serde(default)]
    pub disable: DisableSpec,
    /// The emergency admin restored by `restore-admin` and rehearsed by `drill`.
    #[serde(default)]
    pub emergency: EmergencySpec,
    /// Second factors / external sign-in switches in the user row.
    #[serde(default)]
    pub second_factor: SecondFactorSpec,
    /// Said first in every plan on this connector (e.g. "the vendor does not
    /// support direct database edits"); `plan_warnings_zh` one for one.
    #[serde(default)]
    pub plan_warnings: Vec<String>,
    #[serde(default)]
    pub plan_warnings_zh: Vec<String>,
    /// An external program that encodes passwords; replaces `scheme` for every session.
    #[serde(default)]
    pub encoder: Option<schemes::external::EncoderSpec>,
    /// Where this connector came from: "embedded:NAME.toml" or a path.
    #[serde(skip)]
    pub source: String,
}

impl Connector {
    /// The notes, each with its Chinese text (the English one where the
    /// connector has no `notes_zh`).
    pub fn notes_said(&self) -> impl Iterator<Item = crate::i18n::Said> + '_ {
        paired(&self.notes, &self.notes_zh)
    }

    /// The plan warnings, each with its Chinese text (as `notes_said`).
    pub fn plan_warnings_said(&self) -> impl Iterator<Item = crate::i18n::Said> + '_ {
        paired(&self.plan_warnings, &self.plan_warnings_zh)
    }

    /// `zh` is empty or translates `en` one for one, in order.
    fn check_translated(
        &self,
        key: &str,
        en: &[String],
        zh: &[String],
    ) -> Result<(), ConnectorError> {
        if zh.is_empty() || zh.len() == en.len() {
            return Ok(());
        }
        Err(self.invalid(
            key,
            format!(
                "{} Chinese texts for {} English ones: translate each once, in order",
                zh.len(),
                en.len()
            ),
        ))
    }

    /// Parses and validates one connector file. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Connector, ConnectorError> {
        let mut c: Connector = toml::from_str(text).map_err(|e| ConnectorError::Parse {
            file: file.to_string(),
            message: describe_toml_error(text, &e),
        })?;
        c.source = file.to_string();
        c.validate()?;
        // Where sessions live is one of the connector's notes too.
        if let Some(en) = c.disable.sessions.clone() {
            let zh = c.disable.sessions_zh.clone().unwrap_or_else(|| en.clone());
            if !c.notes_zh.is_empty() {
                c.notes_zh.push(zh);
            }
            c.notes.push(en);
        }
        Ok(c)
    }

    /// The user table's name with the connector's (or the profile's) prefix.
    /// The user table as SQL names it: `prefix+name`, qualified as
    /// `schema.name` or `database.schema.name` / `database..name` when the
    /// connector says so (the dialect quotes each part).
    pub fn table_name(&self) -> String {
        self.prefixed(&self.table.name)
    }

    /// Any other table of this vendor (role links, settings), with the same prefix
    /// and qualification.
    pub fn prefixed(&self, table: &str) -> String {
        let bare = format!("{}{table}", self.table.prefix.as_deref().unwrap_or(""));
        match (&self.table.database, &self.table.schema) {
            (Some(db), schema) => format!("{db}.{}.{bare}", schema.as_deref().unwrap_or("")),
            (None, Some(schema)) => format!("{schema}.{bare}"),
            (None, None) => bare,
        }
    }

    /// `prefix+name` without database or schema.
    fn bare_table_name(&self) -> String {
        format!(
            "{}{}",
            self.table.prefix.as_deref().unwrap_or(""),
            self.table.name
        )
    }

    pub fn with_prefix(mut self, prefix: &str) -> Result<Connector, ConnectorError> {
        self.table.prefix = Some(prefix.to_string());
        self.validate()?;
        Ok(self)
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConnectorError {
        ConnectorError::Invalid {
            file: self.source.clone(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn validate(&self) -> Result<(), ConnectorError> {
        self.validate_name_and_engines()?;
        self.validate_table()?;
        for (role, col) in self.columns.mapped() {
            self.check_ident(&format!("columns.{role}"), col)?;
        }
        if let Some(flag) = &self.admin.flag {
            self.check_ident("admin.flag.column", &flag.column)?;
        }
        if let Some(role) = &self.admin.role {
            self.validate_role_link(role)?;
        }
        self.validate_copy_hash_to()?;
        for (i, spec) in self.older_formats.iter().enumerate() {
            schemes::build(spec)
                .map_err(|e| self.invalid(&format!("older_formats[{i}]"), e.to_string()))?;
        }
        if let Some(by) = &self.scheme_by_setting {
            self.validate_scheme_by_setting(by)?;
        }
        self.validate_writes()?;
        self.validate_disable()?;
        self.validate_emergency()?;
        if let Some(enc) = &self.encoder {
            enc.validate()
                .map_err(|m| self.invalid("encoder.command", m))?;
        }
        self.validate_states()?;
        self.check_translated("notes_zh", &self.notes, &self.notes_zh)?;
        self.check_translated(
            "plan_warnings_zh",
            &self.plan_warnings,
            &self.plan_warnings_zh,
        )?;
        self.validate_password_column()?;
        let scheme =
            schemes::build(&self.scheme).map_err(|e| self.invalid("scheme", e.to_string()))?;
        if scheme.uses_salt_column() && self.columns.salt.is_none() {
            return Err(self.invalid(
                "columns.salt",
                format!("scheme {} keeps a salt column: map it", scheme.id()),
            ));
        }
        Ok(())
    }

    fn validate_name_and_engines(&self) -> Result<(), ConnectorError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.invalid("name", "use letters, digits, '-' and '_' only"));
        }
        for engine in &self.engines {
            if !matches!(engine.as_str(), "mysql" | "postgres" | "mssql" | "sqlite") {
                return Err(self.invalid(
                    "engines",
                    format!("unknown engine `{engine}` (mysql, postgres, mssql, sqlite)"),
                ));
            }
        }
        Ok(())
    }

    /// The table name, and the SQL Server-only database and schema parts.
    fn validate_table(&self) -> Result<(), ConnectorError> {
        self.check_ident("table.name", &self.bare_table_name())?;
        if self.table.database.is_some() || self.table.schema.is_some() {
            if self.engines.iter().any(|e| e != "mssql") || self.engines.is_empty() {
                return Err(self.invalid(
                    "table.database",
                    "three-part names (table.database / table.schema) are for SQL Server connectors: set engines = [\"mssql\"]",
                ));
            }
            if let Some(db) = &self.table.database {
                self.check_ident("table.database", db)?;
            }
            if let Some(schema) = self.table.schema.as_deref().filter(|s| !s.is_empty()) {
                self.check_ident("table.schema", schema)?;
            }
        }
        Ok(())
    }

    fn validate_role_link(&self, role: &RoleLink) -> Result<(), ConnectorError> {
        self.check_ident("admin.role.table", &role.table)?;
        self.check_ident("admin.role.user_column", &role.user_column)?;
        self.check_ident("admin.role.role_column", &role.role_column)?;
        let joined = [&role.role_table, &role.role_table_id, &role.role_table_key];
        let given = joined.iter().filter(|v| v.is_some()).count();
        if given != 0 && given != 3 {
            return Err(self.invalid(
                "admin.role",
                "role_table, role_table_id and role_table_key go together",
            ));
        }
        for (key, v) in [
            ("admin.role.role_table", &role.role_table),
            ("admin.role.role_table_id", &role.role_table_id),
            ("admin.role.role_table_key", &role.role_table_key),
        ] {
            if let Some(v) = v {
                self.check_ident(key, v)?;
            }
        }
        if role.roles.is_empty() {
            return Err(self.invalid("admin.role.roles", "list at least one role"));
        }
        if !role.role_table_where.is_empty() && role.role_table.is_none() {
            return Err(self.invalid(
                "admin.role.role_table_where",
                "needs role_table, role_table_id and role_table_key",
            ));
        }
        for col in role.role_table_where.keys() {
            self.check_ident(&format!("admin.role.role_table_where.{col}"), col)?;
        }
        if !role.role_table_match.is_empty() && role.role_table.is_none() {
            return Err(self.invalid(
                "admin.role.role_table_match",
                "needs role_table, role_table_id and role_table_key",
            ));
        }
        for (col, user_col) in &role.role_table_match {
            let key = format!("admin.role.role_table_match.{col}");
            self.check_ident(&key, col)?;
            self.check_ident(&key, user_col)?;
        }
        Ok(())
    }

    /// The id, login, password and salt columns, which Locksmith writes itself.
    fn is_key_column(&self, col: &str) -> bool {
        (!self.columns.password.is_empty() && col == self.columns.password)
            || self.columns.salt.as_deref() == Some(col)
            || col == self.columns.id
            || col == self.columns.login
    }

    fn validate_copy_hash_to(&self) -> Result<(), ConnectorError> {
        for (i, col) in self.reset.copy_hash_to.iter().enumerate() {
            let key = format!("reset.copy_hash_to[{i}]");
            self.check_ident(&key, col)?;
            if self.is_key_column(col) || self.reset.set.contains_key(col) {
                return Err(self.invalid(
                    &key,
                    "copy the hash to a column that is not the id, login, password or salt column and not in reset.set",
                ));
            }
        }
        for (i, col) in self.reset.secret.iter().enumerate() {
            if !self.reset.set.contains_key(col) {
                return Err(self.invalid(
                    &format!("reset.secret[{i}]"),
                    "name a column that reset.set writes",
                ));
            }
        }
        Ok(())
    }

    fn validate_scheme_by_setting(&self, by: &SchemeBySetting) -> Result<(), ConnectorError> {
        self.check_ident("scheme_by_setting.table", &self.prefixed(&by.table))?;
        self.check_ident("scheme_by_setting.name_column", &by.name_column)?;
        self.check_ident("scheme_by_setting.value_column", &by.value_column)?;
        if by.cases.is_empty() {
            return Err(self.invalid("scheme_by_setting.cases", "list at least one case"));
        }
        for (i, case) in by.cases.iter().enumerate() {
            let key = format!("scheme_by_setting.cases[{i}].scheme");
            let scheme =
                schemes::build(&case.scheme).map_err(|e| self.invalid(&key, e.to_string()))?;
            if scheme.uses_salt_column() && self.columns.salt.is_none() {
                return Err(self.invalid(
                    &key,
                    format!(
                        "scheme {} keeps a salt column: map columns.salt",
                        scheme.id()
                    ),
                ));
            }
            if case.values.is_empty() {
                return Err(self.invalid(
                    &format!("scheme_by_setting.cases[{i}].values"),
                    "list at least one value",
                ));
            }
        }
        Ok(())
    }

    /// `reset.set`, `reset.must_change` and `unlock.set` write other columns
    /// than the key ones; `@login` and `@uuid32` belong to row templates only.
    fn validate_writes(&self) -> Result<(), ConnectorError> {
        for (section, map) in [
            ("reset.set", &self.reset.set),
            ("reset.must_change", &self.reset.must_change),
            ("unlock.set", &self.unlock.set),
            ("disable.set", &self.disable.set),
        ] {
            for col in map.keys() {
                self.check_ident(&format!("{section}.{col}"), col)?;
                if self.is_key_column(col) {
                    return Err(self.invalid(
                        &format!("{section}.{col}"),
                        "the id, login, password and salt columns are written by Locksmith itself",
                    ));
                }
            }
        }
        for (section, map) in [
            ("reset.set", &self.reset.set),
            ("reset.must_change", &self.reset.must_change),
            ("unlock.set", &self.unlock.set),
            ("disable.set", &self.disable.set),
            ("emergency.undelete", &self.emergency.undelete),
            ("emergency.enable", &self.emergency.enable),
            ("second_factor.clear", &self.second_factor.clear),
        ] {
            for (col, v) in map {
                if matches!(
                    v.spec(),
                    WriteSpec::Login | WriteSpec::Uuid32 | WriteSpec::UnixNow | WriteSpec::Guid
                ) {
                    return Err(self.invalid(
                        &format!("{section}.{col}"),
                        "@login, @uuid32, @guid and @unixnow are for emergency.create and emergency.link only",
                    ));
                }
            }
        }
        Ok(())
    }

    /// `[disable]`: writes and a predicate they satisfy, and where sessions
    /// live; or, for a vendor whose switch is unknown, why it is unmapped.
    fn validate_disable(&self) -> Result<(), ConnectorError> {
        let d = &self.disable;
        if d.unmapped.is_some() {
            if d.mapped() || !d.when.is_empty() {
                return Err(self.invalid(
                    "disable.unmapped",
                    "an unmapped disable has no set or when: remove one or the other",
                ));
            }
            return Ok(());
        }
        if !d.mapped() {
            return Ok(());
        }
        if d.when.is_empty() {
            return Err(self.invalid(
                "disable.when",
                "list the values that mean disabled, so a lookup can tell an already disabled account",
            ));
        }
        for (col, values) in &d.when {
            self.check_ident(&format!("disable.when.{col}"), col)?;
            if values.is_empty() {
                return Err(self.invalid(&format!("disable.when.{col}"), "list at least one value"));
            }
        }
        for (col, v) in &d.set {
            // Offboarding journals the values a disable replaces in plain text.
            if self.reset.secret.contains(col) || self.reset.copy_hash_to.contains(col) {
                return Err(self.invalid(
                    &format!("disable.set.{col}"),
                    "a disable writes status columns only, never a column that holds a secret",
                ));
            }
            let written = match v.spec() {
                WriteSpec::Int(i) => i.to_string(),
                WriteSpec::Text(t) => t,
                _ => {
                    return Err(self.invalid(
                        &format!("disable.set.{col}"),
                        "write a literal value (the disabled state), not @null or @now",
                    ));
                }
            };
            if let Some(values) = d.when.get(col)
                && !values.contains(&written)
            {
                return Err(self.invalid(
                    &format!("disable.set.{col}"),
                    format!(
                        "writes '{written}', which disable.when.{col} does not count as disabled"
                    ),
                ));
            }
        }
        if !d.when.keys().any(|col| d.set.contains_key(col)) {
            return Err(self.invalid(
                "disable.when",
                "name at least one column that disable.set writes",
            ));
        }
        if d.sessions.is_none() {
            return Err(self.invalid(
                "disable.sessions",
                "say where live sessions and tokens live: disabling does not end them",
            ));
        }
        Ok(())
    }

    /// A password column unless the scheme says the vendor keeps none, and
    /// nothing that writes or copies the (absent) password then.
    fn validate_password_column(&self) -> Result<(), ConnectorError> {
        let directory = matches!(self.scheme, SchemeSpec::Directory { .. });
        if self.columns.password.is_empty() && !directory {
            return Err(self.invalid(
                "columns.password",
                "map the password column (only scheme kind \"directory\" has none)",
            ));
        }
        if directory {
            if !self.columns.password.is_empty() || self.columns.salt.is_some() {
                return Err(self.invalid(
                    "columns.password",
                    "scheme kind \"directory\" keeps no password in the database: map no password or salt column",
                ));
            }
            if !self.reset.copy_hash_to.is_empty() || !self.emergency.create.is_empty() {
                return Err(self.invalid(
                    "scheme",
                    "scheme kind \"directory\" has no password to copy or re-create a row with (reset.copy_hash_to, emergency.create)",
                ));
            }
        }
        Ok(())
    }

    /// Whether the vendor keeps a password in this database at all.
    pub fn keeps_password(&self) -> bool {
        !self.columns.password.is_empty()
    }

    /// A mapped status or deleted column needs the values that mean it.
    fn validate_states(&self) -> Result<(), ConnectorError> {
        if self.columns.access.is_some() && self.states.full_access.is_empty() {
            return Err(self.invalid(
                "states.full_access",
                "columns.access is mapped: list the values that mean full access",
            ));
        }
        if self.columns.status.is_some()
            && self.states.enabled.is_empty()
            && self.states.disabled.is_empty()
        {
            return Err(self.invalid(
                "states",
                "columns.status is mapped: list its enabled and/or disabled values",
            ));
        }
        if self.columns.deleted.is_some() && self.states.deleted.is_empty() {
            return Err(self.invalid(
                "states.deleted",
                "columns.deleted is mapped: list the values that mean deleted",
            ));
        }
        Ok(())
    }

    fn validate_emergency(&self) -> Result<(), ConnectorError> {
        let e = &self.emergency;
        for (section, map) in [
            ("emergency.undelete", &e.undelete),
            ("emergency.enable", &e.enable),
            ("emergency.create", &e.create),
            ("second_factor.clear", &self.second_factor.clear),
        ] {
            for col in map.keys() {
                self.check_ident(&format!("{section}.{col}"), col)?;
                if self.is_key_column(col) || self.reset.copy_hash_to.contains(col) {
                    return Err(self.invalid(
                        &format!("{section}.{col}"),
                        "the id, login, password and salt columns are written by Locksmith itself",
                    ));
                }
            }
        }
        if !e.undelete.is_empty() && self.columns.deleted.is_none() {
            return Err(self.invalid("emergency.undelete", "map columns.deleted first"));
        }
        if !e.create.is_empty() && e.id.is_none() {
            return Err(self.invalid(
                "emergency.create",
                "a template needs emergency.id: the key the re-created row gets",
            ));
        }
        if !e.link.is_empty() && self.admin.role.is_none() {
            return Err(self.invalid("emergency.link", "needs admin.role"));
        }
        if let Some(role) = &self.admin.role {
            for col in e.link.keys() {
                self.check_ident(&format!("emergency.link.{col}"), col)?;
                if col == &role.user_column || col == &role.role_column {
                    return Err(self.invalid(
                        &format!("emergency.link.{col}"),
                        "the user and role columns are written by Locksmith itself",
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_ident(&self, key: &str, ident: &str) -> Result<(), ConnectorError> {
        validate_identifier(ident).map_err(|m| self.invalid(key, m))
    }

    pub fn scheme(&self) -> Result<Box<dyn schemes::Scheme>, ConnectorError> {
        schemes::build(&self.scheme).map_err(|e| self.invalid("scheme", e.to_string()))
    }
}

/// SQL identifiers must be plain names: letters, digits, `_` (and `$`),
/// not all digits, at most 64 characters. Anything else is refused rather
/// than escaped, because these names reach SQL text.
pub fn validate_identifier(ident: &str) -> Result<(), String> {
    if ident.is_empty() || ident.len() > 64 {
        return Err(format!(
            "`{ident}` must be 1 to 64 characters long to be an SQL identifier"
        ));
    }
    if !ident
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    {
        return Err(format!(
            "`{ident}` is not a plain SQL identifier: use letters, digits and '_' only"
        ));
    }
    if ident.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{ident}` is all digits, which SQL does not accept as a name"
        ));
    }
    Ok(())
}

/// toml's message already shows line and column; add the key path when known.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let mut msg = e.message().to_string();
    if let Some(span) = e.span() {
        let line = text[..span.start.min(text.len())].lines().count().max(1);
        msg = format!("line {line}: {msg}");
    }
    msg
}

/// All connectors: embedded ones, then files from `extra_dir` overriding by name.
pub fn load_all(extra_dir: Option<&Path>) -> Result<Vec<Connector>, ConnectorError> {
    load_layers(&[extra_dir])
}

/// The embedded connectors, then the files of each directory in turn, a later
/// file overriding an earlier connector of the same name. Missing directories
/// are skipped.
pub fn load_layers(dirs: &[Option<&Path>]) -> Result<Vec<Connector>, ConnectorError> {
    let mut by_name: BTreeMap<String, Connector> = BTreeMap::new();
    for (file, text) in EMBEDDED {
        let c = Connector::parse(&format!("embedded:{file}"), text)?;
        by_name.insert(c.name.clone(), c);
    }
    for dir in dirs.iter().flatten() {
        for c in load_dir(dir)? {
            by_name.insert(c.name.clone(), c);
        }
    }
    Ok(by_name.into_values().collect())
}

/// Every `*.toml` connector file in `dir`, in file-name order.
fn load_dir(dir: &Path) -> Result<Vec<Connector>, ConnectorError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| ConnectorError::Dir {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut found = Vec::new();
    for path in paths {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| ConnectorError::Parse {
            file: shown.clone(),
            message: e.to_string(),
        })?;
        found.push(Connector::parse(&shown, &text)?);
    }
    Ok(found)
}

/// Each English text with its Chinese one (the English where `zh` has none).
fn paired<'a>(en: &'a [String], zh: &'a [String]) -> impl Iterator<Item = crate::i18n::Said> + 'a {
    en.iter().enumerate().map(|(i, e)| crate::i18n::Said::Pair {
        en: e.clone(),
        zh: zh.get(i).unwrap_or(e).clone(),
    })
}

/// `<config dir>/locksmith/connectors`, where operators add their own files.
pub fn user_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "locksmith").map(|d| d.config_dir().join("connectors"))
}

impl Connector {
    /// The notes in the operator's language (English when no translation is given).
    pub fn notes_for(&self, zh: bool) -> &[String] {
        match zh && !self.notes_zh.is_empty() {
            true => &self.notes_zh,
            false => &self.notes,
        }
    }
}

pub fn find(all: &[Connector], name: &str) -> Result<Connector, ConnectorError> {
    all.iter()
        .find(|c| c.name == name)
        .cloned()
        .ok_or_else(|| ConnectorError::Unknown(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_connector_has_its_notes_in_chinese() {
        for c in load_all(None).expect("shipped connectors") {
            assert_eq!(
                c.notes_zh.len(),
                c.notes.len(),
                "{}: every note needs its Chinese translation (notes_zh)",
                c.name
            );
        }
    }

    #[test]
    fn embedded_connectors_parse_and_validate() {
        let all = load_all(None).unwrap();
        let names: Vec<_> = all.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "crmeb",
                "dolibarr",
                "dynamics-crm",
                "espocrm",
                "jeecg",
                "kingdee-k3cloud",
                "kingdee-k3wise",
                "odoo",
                "ruoyi",
                "ruoyi-vue",
                "suitecrm",
                "u8",
                "vtiger",
                "wukong-php",
                "wukong11"
            ]
        );
    }

    #[test]
    fn identifiers_with_quotes_or_spaces_are_refused_naming_file_and_key() {
        let text = EMBEDDED[1]
            .1
            .replace("login = \"login_name\"", "login = \"login`name\"");
        let err = Connector::parse("bad.toml", &text).unwrap_err().to_string();
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains("columns.login"), "{err}");
    }

    #[test]
    fn toml_syntax_errors_name_the_file_and_line() {
        let text = EMBEDDED[1].1.replace("[columns]", "[columns\n");
        let err = Connector::parse("broken.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("broken.toml: line "), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = format!("{}\n[extra]\nx = 1\n", EMBEDDED[1].1);
        let err = Connector::parse("x.toml", &text).unwrap_err().to_string();
        assert!(err.contains("extra"), "{err}");
    }

    #[test]
    fn writes_to_password_columns_from_data_are_refused() {
        let text = EMBEDDED[1].1.replace(
            "set = { status = \"0\" }",
            "set = { status = \"0\", password = \"x\" }",
        );
        let err = Connector::parse("x.toml", &text).unwrap_err().to_string();
        assert!(err.contains("unlock.set.password"), "{err}");
    }

    fn embedded(name: &str) -> &'static str {
        EMBEDDED
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, t)| *t)
            .unwrap()
    }

    #[test]
    fn three_part_names_are_for_sql_server_connectors_only() {
        let text = embedded("ruoyi.toml");
        let start = text.find("[table]").unwrap();
        let qualified = format!(
            "{}[table]\ndatabase = \"UFSystem\"\n{}",
            &text[..start],
            &text[start + "[table]\n".len()..]
        );
        let err = Connector::parse("x.toml", &qualified)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SQL Server"), "{err}");
        let mssql = qualified.replace("engines = [\"mysql\"]", "engines = [\"mssql\"]");
        let c = Connector::parse("x.toml", &mssql).unwrap();
        assert_eq!(c.table_name(), "UFSystem..sys_user");
        assert_eq!(c.prefixed("sys_user_role"), "UFSystem..sys_user_role");
        let bad = mssql.replace("database = \"UFSystem\"", "database = \"UF;System\"");
        assert!(Connector::parse("x.toml", &bad).is_err());
    }

    #[test]
    fn copy_hash_to_may_not_name_the_password_or_an_unsafe_identifier() {
        let text = embedded("vtiger.toml");
        let bad = text.replace(
            "copy_hash_to = [\"confirm_password\"]",
            "copy_hash_to = [\"user_password\"]",
        );
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("reset.copy_hash_to[0]"), "{err}");
        let bad = text.replace(
            "copy_hash_to = [\"confirm_password\"]",
            "copy_hash_to = [\"a;b\"]",
        );
        assert!(Connector::parse("x.toml", &bad).is_err());
    }

    #[test]
    fn scheme_by_setting_cases_and_role_filters_are_validated() {
        let text = embedded("dolibarr.toml");
        let bad = text.replace("values = [\"sha1md5\"]", "values = []");
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("scheme_by_setting.cases[1].values"), "{err}");
        let bad = text.replace("name_column = \"name\"", "name_column = \"na me\"");
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("scheme_by_setting.name_column"), "{err}");
        let c = Connector::parse("x.toml", text).unwrap();
        assert_eq!(c.prefixed("const"), "llx_const");
        let odoo = embedded("odoo.toml");
        let bad = odoo.replace(
            "role_table_where = { module",
            "role_table_where = { \"mo dule\"",
        );
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("role_table_where"), "{err}");
    }

    #[test]
    fn emergency_templates_are_validated() {
        let text = embedded("wukong11.toml");
        let c = Connector::parse("x.toml", text).unwrap();
        assert_eq!(c.emergency.id.as_deref(), Some("14773"));
        assert_eq!(c.emergency.create["mobile"].spec(), WriteSpec::Login);
        // A template without the key the row gets.
        let bad = text.replace("id = \"14773\"\n", "");
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("emergency.create"), "{err}");
        // The password is Locksmith's to write, not the template's.
        let bad = text.replace("mobile = \"@login\"", "password = \"x\"");
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("emergency.create.password"), "{err}");
        // @login / @uuid32 only in templates.
        let bad = text.replace("set = { status = \"1\" }", "set = { status = \"@uuid32\" }");
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("unlock.set.status"), "{err}");
        let jeecg = Connector::parse("x.toml", embedded("jeecg.toml")).unwrap();
        assert_eq!(jeecg.emergency.link["id"].spec(), WriteSpec::Uuid32);
    }

    #[test]
    fn every_shipped_connector_disables_or_says_why_not() {
        for c in load_all(None).unwrap() {
            let d = &c.disable;
            match d.mapped() {
                true => {
                    let en = d.sessions.as_ref().expect("sessions");
                    assert!(
                        c.notes.contains(en),
                        "{}: the sessions note joins the notes",
                        c.name
                    );
                    assert_eq!(c.notes.len(), c.notes_zh.len(), "{}", c.name);
                    // What disable writes satisfies the disabled predicate.
                    let written = |col: &str| {
                        d.set.get(col).map(|v| match v.spec() {
                            WriteSpec::Int(i) => i.to_string(),
                            WriteSpec::Text(t) => t,
                            _ => String::new(),
                        })
                    };
                    assert!(d.is_disabled(written), "{}", c.name);
                }
                false => assert!(
                    d.unmapped.is_some(),
                    "{}: map [disable] or say why not",
                    c.name
                ),
            }
        }
        let closed: Vec<_> = load_all(None)
            .unwrap()
            .into_iter()
            .filter(|c| !c.disable.mapped())
            .map(|c| c.name)
            .collect();
        assert_eq!(closed, ["kingdee-k3wise", "u8"]);
    }

    #[test]
    fn disable_writes_and_predicate_must_agree() {
        let text = embedded("ruoyi.toml");
        let bad = text.replace("when = { status = [\"1\"] }", "when = { status = [\"2\"] }");
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("disable.set.status"), "{err}");
        let bad = text.replace("when = { status = [\"1\"] }\n", "");
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("disable.when"), "{err}");
        let bad = text.replace(
            "[disable]\nset = { status = \"1\" }",
            "[disable]\nset = { password = \"1\" }",
        );
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("disable.set.password"), "{err}");
        let vtiger = embedded("vtiger.toml").replace(
            "[disable]\nset = { status = \"Inactive\" }",
            "[disable]\nset = { status = \"Inactive\", confirm_password = \"x\" }",
        );
        let err = Connector::parse("x.toml", &vtiger).unwrap_err().to_string();
        assert!(err.contains("disable.set.confirm_password"), "{err}");
        let bad = text.replace("[disable]\n", "[disable]\nunmapped = \"x\"\n");
        let err = Connector::parse("x.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("disable.unmapped"), "{err}");
    }

    #[test]
    fn identifier_rules() {
        assert!(validate_identifier("5kcrm_admin_user").is_ok());
        assert!(validate_identifier("sys_user").is_ok());
        assert!(validate_identifier("123").is_err());
        assert!(validate_identifier("a b").is_err());
        assert!(validate_identifier("a;drop").is_err());
        assert!(validate_identifier("").is_err());
    }

    #[test]
    fn write_value_sentinels() {
        assert_eq!(WriteValue::Text("@now".into()).spec(), WriteSpec::Now);
        assert_eq!(WriteValue::Text("@null".into()).spec(), WriteSpec::Null);
        assert_eq!(
            WriteValue::Text("@@x".into()).spec(),
            WriteSpec::Text("@x".into())
        );
        assert_eq!(WriteValue::Int(1).spec(), WriteSpec::Int(1));
    }
}
