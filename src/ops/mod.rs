//! Operations shared by the CLI and the console. The use cases a shell calls
//! live in `connect` (session, journal), `write` (prepare/commit of every
//! write), `audit` (verify, checkpoint, close, status) and the read
//! operations (`account`, `posture`, `check`, `drill`). They never print;
//! shells render the results.

pub mod account;
pub mod audit;
pub mod backup;
pub mod check;
pub mod connect;
pub mod drill;
pub mod emergency;
pub mod fleet;
pub mod guide;
pub mod metrics;
pub mod offboard;
pub mod plan;
pub mod posture;
pub mod protocol;
pub mod second_factor;
pub mod sql;
pub mod undo;
pub mod write;

use crate::backend::{self, Backend, BackendError, Target, WriteAccess};
use crate::connector::{Connector, ConnectorError};
use crate::i18n::{Lang, Said, tf};
use crate::journal::{Actor, JournalError, Place};
use crate::schemes::{AccountInput, Scheme, SchemeError};
use crate::secret::Password;
use sql::Stmt;

pub use account::{Account, AccountState, LookupFilter, LookupPage};
pub use plan::{Action, Plan, PlanOptions};
pub use protocol::{Applied, Mode, apply, apply_with};

/// Every way an operation can fail, each mapped to one exit code.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("{0}")]
    NotFound(Said),
    #[error("{message}")]
    Ambiguous {
        message: Said,
        candidates: Vec<String>,
    },
    /// A safety check refused the write; nothing was written.
    #[error("refused: {0}")]
    Refused(Said),
    #[error("journal: {0}; nothing was written to the target")]
    Journal(#[source] JournalError),
    #[error(
        "the change was committed, but its outcome could not be journaled ({0}); the intent stays open and is reconciled on the next run"
    )]
    JournalAfterCommit(#[source] JournalError),
    #[error(
        "the connection was lost while committing ({reason}); the change may or may not be on the target. Journal entry {intent} is marked unknown and is reconciled on the next run"
    )]
    OutcomeUnknown { intent: i64, reason: String },
    #[error("verification failed: {0}; the transaction was rolled back")]
    VerifyFailed(String),
    #[error("{0}")]
    Scheme(#[from] SchemeError),
    #[error("{0}")]
    Usage(Said),
    /// `forward_required`: the intent was not acknowledged by the RELP
    /// receiver; the write was refused before the target was touched.
    #[error("{0}")]
    NotForwarded(Said),
}

impl OpError {
    /// The error in `lang`, for the operator (the CLI's reporter, the
    /// console); `Display` is the English the journal and `--json` keep.
    pub fn text(&self, lang: Lang) -> String {
        self.worded(lang, Said::text)
    }

    /// The error as the console words it (see [`Said::console_text`]).
    pub fn console_text(&self, lang: Lang) -> String {
        self.worded(lang, Said::console_text)
    }

    fn worded(&self, lang: Lang, word: fn(&Said, Lang) -> String) -> String {
        match self {
            OpError::NotFound(said) | OpError::Usage(said) | OpError::NotForwarded(said) => {
                word(said, lang)
            }
            OpError::Ambiguous { message, .. } => word(message, lang),
            OpError::Refused(said) => tf(lang, "said.refused", &[("why", &word(said, lang))]),
            other => other.to_string(),
        }
    }

    /// Exit codes, documented in README.
    pub fn exit_code(&self) -> i32 {
        match self {
            OpError::Usage(_) => 2,
            OpError::Backend(BackendError::Connect { .. })
            | OpError::Backend(BackendError::ConnectionLost(_)) => 3,
            OpError::NotFound(_) | OpError::Ambiguous { .. } => 4,
            OpError::Refused(_) | OpError::Scheme(_) | OpError::VerifyFailed(_) => 5,
            OpError::Journal(_) | OpError::JournalAfterCommit(_) | OpError::NotForwarded(_) => 6,
            OpError::OutcomeUnknown { .. } => 7,
            OpError::Connector(_) => 2,
            // Nothing was written: another session held the row, or the login may not write.
            OpError::Backend(BackendError::LockTimeout(_))
            | OpError::Backend(BackendError::Permission(_)) => 5,
            OpError::Backend(_) => 1,
        }
    }
}

/// A connected target with its connector: what every operation works on.
pub struct Session {
    pub backend: Box<dyn Backend>,
    pub connector: Connector,
    /// Shared with the blocking thread that verifies a write's new value
    /// while its statements run (protocol.rs).
    pub scheme: std::sync::Arc<dyn Scheme>,
    /// Older formats the vendor still accepts (connector `older_formats`).
    pub older: Vec<Box<dyn Scheme>>,
    /// Which database setting chose the scheme, for every plan's warnings.
    pub scheme_note: Option<String>,
    pub target: String,
    pub warnings: Vec<String>,
    /// What this login may UPDATE in the connector's table (probed at connect).
    pub write_access: WriteAccess,
    /// The external encoder that replaced the connector's scheme, if any.
    pub encoder: Option<EncoderInfo>,
    /// `[journal] seal_to`: every committed write seals its before-values to
    /// this age recipient (`undo`).
    pub seal_to: Option<String>,
    /// The operator asked for a read-only session (`Target::read_only`): writes
    /// are refused by `refuse_if_read_only` before anything is journaled.
    pub read_only: bool,
}

/// An external encoder in use (`[encoder]`, `--encoder`, a profile's `encoder`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EncoderInfo {
    /// `sha256:<hex>` over argv and the contents of argv elements that are files.
    pub identity: String,
    /// The program's file name.
    pub program: String,
    /// Who configured it: "connector `u8`", "--encoder", "profile".
    pub origin: String,
    /// The scheme it replaced, and whether that one depends on the login.
    pub replaces: String,
    pub replaced_bound_to_login: bool,
}

impl Session {
    /// Connects and picks the connector: the named one, or the only shipped
    /// connector whose table and columns exist on the target.
    pub async fn open(
        target: &Target,
        connector: Option<&str>,
        all: &[Connector],
    ) -> Result<Session, OpError> {
        let backend = backend::connect(target).await?;
        Session::on_backend(backend, target, connector, all).await
    }

    /// A session on an open connection: the named connector, or the one detected.
    pub async fn on_backend(
        mut backend: Box<dyn Backend>,
        target: &Target,
        connector: Option<&str>,
        all: &[Connector],
    ) -> Result<Session, OpError> {
        let mut warnings = target.warnings.clone();
        warnings.extend(backend.warnings());
        if let Some(ro) = backend.read_only() {
            warnings.push(ro.warning());
        }
        let connector = match connector {
            Some(name) => crate::connector::find(all, name)?,
            None => {
                let (c, note) = detect_connector(backend.as_mut(), all).await?;
                warnings.push(note);
                c
            }
        };
        if !connector.engines.iter().any(|e| e == backend.engine()) {
            return Err(OpError::Usage(Said::key(
                "said.wrong_engine",
                &[
                    ("connector", &connector.name),
                    ("engines", &connector.engines.join(", ")),
                    ("engine", &backend.engine()),
                ],
            )));
        }
        let (scheme, mut scheme_note) = resolve_scheme(backend.as_mut(), &connector).await?;
        if scheme_note.is_none() && scheme.level() == crate::schemes::Level::ThirdParty {
            scheme_note = Some(crate::tui::i18n::tf(
                crate::tui::i18n::Lang::detect(None),
                "scheme.third_party_note",
                &[("scheme", &scheme.id())],
            ));
        }
        if let Some(note) = &scheme_note {
            warnings.push(note.clone());
        }
        let older = connector
            .older_formats
            .iter()
            .map(crate::schemes::build)
            .collect::<Result<Vec<_>, _>>()?;
        let write_access = backend.write_access(&connector.table_name()).await?;
        if write_access == WriteAccess::None {
            warnings.push(format!(
                "the DB login `{}` has no UPDATE privilege on `{}`: lookups work, writes are unavailable (see README, least privilege)",
                target.user,
                connector.table_name()
            ));
        }
        let encoder = connector.encoder.clone();
        let origin = format!("connector `{}`", connector.name);
        let mut s = Session {
            backend,
            connector,
            scheme: scheme.into(),
            older,
            scheme_note,
            target: target.display(),
            warnings,
            write_access,
            encoder: None,
            seal_to: None,
            read_only: target.read_only,
        };
        if let Some(spec) = encoder {
            s.set_encoder(spec, &origin)?;
        }
        Ok(s)
    }

    /// A read-only session refuses every write here (exit 5), before the
    /// journal or the target is touched. `what` names the refused action.
    pub fn refuse_if_read_only(&self, what: &str) -> Result<(), OpError> {
        if !self.read_only {
            return Ok(());
        }
        Err(OpError::Refused(Said::key(
            "said.read_only",
            &[("what", &what)],
        )))
    }

    /// Replaces the scheme with an external encoder for this session. Writes
    /// with it need a matching calibration in the journal (`protocol`).
    pub fn set_encoder(
        &mut self,
        spec: crate::schemes::external::EncoderSpec,
        origin: &str,
    ) -> Result<(), OpError> {
        let ext = crate::schemes::external::ExternalScheme::new(spec)?;
        let (replaces, replaced_bound) = match &self.encoder {
            // A second encoder (the operator's over the connector's) replaces the same scheme.
            Some(prev) => (prev.replaces.clone(), prev.replaced_bound_to_login),
            None => (self.scheme.id(), self.scheme.bound_to_login()),
        };
        let info = EncoderInfo {
            identity: ext.identity().to_string(),
            program: ext.program_name(),
            origin: origin.to_string(),
            replaces,
            replaced_bound_to_login: replaced_bound,
        };
        let note = format!(
            "passwords are encoded by the external encoder {} (from {}, identity {}), which replaces the scheme {}",
            info.program, info.origin, info.identity, info.replaces
        );
        self.warnings
            .retain(|w| Some(w) != self.scheme_note.as_ref());
        self.warnings.push(note.clone());
        self.scheme_note = Some(note);
        self.scheme = std::sync::Arc::new(ext);
        self.encoder = Some(info);
        Ok(())
    }

    /// The older format a stored value has, when it lacks the current scheme's shape.
    pub fn older_format(&self, stored: &str) -> Option<&dyn Scheme> {
        if self.scheme.has_shape(stored) {
            return None;
        }
        self.older
            .iter()
            .find(|s| s.has_shape(stored))
            .map(|s| s.as_ref())
    }

    /// The scheme that reads this stored value: the current one, or a matching older one.
    pub fn scheme_for(&self, stored: &str) -> &dyn Scheme {
        self.older_format(stored).unwrap_or(self.scheme.as_ref())
    }

    /// Where writes land, for the journal.
    pub fn place(&self) -> Place {
        let (host, database) = self.backend.place();
        Place {
            engine: self.backend.engine().to_string(),
            host,
            database,
            connector: self.connector.name.clone(),
            via: self.backend.via(),
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::current()
    }

    pub async fn close(self) -> Result<(), OpError> {
        self.backend.close().await?;
        Ok(())
    }
}

/// The only connector whose table and columns exist on the target, and the
/// note that says it was detected.
async fn detect_connector(
    backend: &mut dyn Backend,
    all: &[Connector],
) -> Result<(Connector, String), OpError> {
    let mut fits = Vec::new();
    let engine = backend.engine();
    for c in all.iter().filter(|c| c.engines.iter().any(|e| e == engine)) {
        if check::check(backend, c).await?.ok() {
            fits.push(c.clone());
        }
    }
    match fits.len() {
        1 => {
            let c = fits.remove(0);
            let note = format!(
                "connector `{}` detected from the schema; pass --connector to choose another",
                c.name
            );
            Ok((c, note))
        }
        0 => Err(OpError::Usage(Said::key("said.no_connector", &[]))),
        _ => {
            let names: Vec<_> = fits.iter().map(|c| c.name.clone()).collect();
            Err(OpError::Usage(Said::key(
                "said.several_connectors",
                &[("names", &names.join(", "))],
            )))
        }
    }
}

/// Reads every value of one setting (`None` for SQL NULL).
async fn read_setting(
    backend: &mut dyn Backend,
    table: &str,
    name_column: &str,
    value_column: &str,
    name: &str,
) -> Result<Vec<Option<String>>, OpError> {
    let mut stmt = Stmt::new(backend.dialect());
    let value = stmt.ident(value_column);
    let table_q = stmt.ident(table);
    let name_q = stmt.ident(name_column);
    let ph = stmt.bind(backend::Value::Text(name.to_string()));
    stmt.push(&format!(
        "SELECT {value} FROM {table_q} WHERE {name_q} = {ph}"
    ));
    let rows = backend.query(&stmt.text, &stmt.params).await?;
    Ok(rows
        .into_iter()
        .map(|r| r.into_iter().next().and_then(|v| v.as_text()))
        .collect())
}

/// The connector's scheme, or, with `scheme_by_setting`, the scheme the
/// install's setting selects (plus a note naming the setting that was read).
async fn resolve_scheme(
    backend: &mut dyn Backend,
    c: &Connector,
) -> Result<(Box<dyn Scheme>, Option<String>), OpError> {
    let Some(by) = &c.scheme_by_setting else {
        return Ok((c.scheme()?, None));
    };
    let table = c.prefixed(&by.table);
    let mut values = read_setting(
        backend,
        &table,
        &by.name_column,
        &by.value_column,
        &by.setting,
    )
    .await?;
    values.sort();
    values.dedup();
    if values.len() > 1 {
        return Err(OpError::Refused(format!(
            "table `{table}` holds {} different values for {}; Locksmith cannot tell which one the login uses (pass --connector with a local connector that fixes the scheme)",
            values.len(),
            by.setting
        ).into()));
    }
    let value = values.into_iter().next().flatten().unwrap_or_default();
    let Some(case) = by.cases.iter().find(|k| k.values.contains(&value)) else {
        return Err(OpError::Refused(format!(
            "{} in `{table}` is '{value}', which connector `{}` does not know ({}); the value may be encrypted (dolibarr_main_db_encryption) or the install customised",
            by.setting, c.name, c.source
        ).into()));
    };
    let mut scheme = crate::schemes::build(&case.scheme)?;
    let shown = if value.is_empty() {
        "unset (the vendor's default)".to_string()
    } else {
        format!("'{value}'")
    };
    let mut note = format!(
        "scheme {} chosen by {} = {shown} read from `{table}`",
        scheme.id(),
        by.setting
    );
    // A recipe that mentions `salt` but keeps no salt column takes the install-wide salt.
    let probe = Password::new("probe".into());
    let no_salt = AccountInput {
        login: "",
        salt: None,
    };
    if matches!(
        scheme.verify(&probe, &no_salt, ""),
        Err(SchemeError::MissingSalt)
    ) {
        let Some(salt_setting) = &by.salt_setting else {
            return Err(OpError::Refused(format!(
                "connector `{}`: the scheme for {} = {shown} needs a salt but scheme_by_setting.salt_setting is not set",
                c.name, by.setting
            ).into()));
        };
        let mut salts = read_setting(
            backend,
            &table,
            &by.name_column,
            &by.value_column,
            salt_setting,
        )
        .await?;
        salts.sort();
        salts.dedup();
        if salts.len() > 1 {
            return Err(OpError::Refused(format!(
                "table `{table}` holds {} different values for {salt_setting}; Locksmith cannot tell which one the login uses",
                salts.len()
            ).into()));
        }
        let salt = salts.into_iter().next().flatten().unwrap_or_default();
        note.push_str(&format!(
            ", with the install-wide salt {salt_setting}{}",
            if salt.is_empty() {
                " (unset: empty, as the vendor does)"
            } else {
                ""
            }
        ));
        scheme = crate::schemes::with_site_salt(scheme, salt);
    }
    Ok((scheme, Some(note)))
}
