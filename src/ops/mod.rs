//! Operations shared by the CLI and (later) the TUI: lookup, show, plan,
//! apply, calibrate, check. They never print; callers render the results.

pub mod account;
pub mod check;
pub mod plan;
pub mod protocol;
pub mod sql;

use crate::backend::{self, Backend, BackendError, Target, WriteAccess};
use crate::connector::{Connector, ConnectorError};
use crate::journal::{Actor, JournalError, Place};
use crate::schemes::{Scheme, SchemeError};

pub use account::{Account, AccountState, LookupFilter, LookupPage};
pub use plan::{Action, Plan, PlanOptions};
pub use protocol::{Applied, apply};

/// Every way an operation can fail, each mapped to one exit code.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Ambiguous {
        message: String,
        candidates: Vec<String>,
    },
    /// A safety check refused the write; nothing was written.
    #[error("refused: {0}")]
    Refused(String),
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
    Usage(String),
}

impl OpError {
    /// Exit codes, documented in README.
    pub fn exit_code(&self) -> i32 {
        match self {
            OpError::Usage(_) => 2,
            OpError::Backend(BackendError::Connect { .. })
            | OpError::Backend(BackendError::ConnectionLost(_)) => 3,
            OpError::NotFound(_) | OpError::Ambiguous { .. } => 4,
            OpError::Refused(_) | OpError::Scheme(_) | OpError::VerifyFailed(_) => 5,
            OpError::Journal(_) | OpError::JournalAfterCommit(_) => 6,
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
    pub scheme: Box<dyn Scheme>,
    pub target: String,
    pub warnings: Vec<String>,
    /// What this login may UPDATE in the connector's table (probed at connect).
    pub write_access: WriteAccess,
}

impl Session {
    /// Connects and picks the connector: the named one, or the only shipped
    /// connector whose table and columns exist on the target.
    pub async fn open(
        target: &Target,
        connector: Option<&str>,
        all: &[Connector],
    ) -> Result<Session, OpError> {
        let mut backend = backend::connect(target).await?;
        let mut warnings = target.warnings.clone();
        let connector = match connector {
            Some(name) => crate::connector::find(all, name)?,
            None => {
                let mut fits = Vec::new();
                let engine = backend.engine();
                for c in all.iter().filter(|c| c.engines.iter().any(|e| e == engine)) {
                    if check::check(backend.as_mut(), c).await?.ok() {
                        fits.push(c.clone());
                    }
                }
                match fits.len() {
                    1 => {
                        let c = fits.remove(0);
                        warnings.push(format!(
                            "connector `{}` detected from the schema; pass --connector to choose another",
                            c.name
                        ));
                        c
                    }
                    0 => {
                        return Err(OpError::Usage(
                            "no shipped connector matches this database's tables; pass --connector NAME (see `locksmith connectors list`)".into(),
                        ));
                    }
                    _ => {
                        let names: Vec<_> = fits.iter().map(|c| c.name.clone()).collect();
                        return Err(OpError::Usage(format!(
                            "several connectors match this database ({}); pass --connector NAME",
                            names.join(", ")
                        )));
                    }
                }
            }
        };
        if !connector.engines.iter().any(|e| e == backend.engine()) {
            return Err(OpError::Usage(format!(
                "connector `{}` supports {}, not {}",
                connector.name,
                connector.engines.join(", "),
                backend.engine()
            )));
        }
        let scheme = connector.scheme()?;
        let write_access = backend.write_access(&connector.table_name()).await?;
        if write_access == WriteAccess::None {
            warnings.push(format!(
                "the DB login `{}` has no UPDATE privilege on `{}`: lookups work, writes are unavailable (see README, least privilege)",
                target.user,
                connector.table_name()
            ));
        }
        Ok(Session {
            backend,
            connector,
            scheme,
            target: target.display(),
            warnings,
            write_access,
        })
    }

    /// Where writes land, for the journal.
    pub fn place(&self) -> Place {
        let (host, database) = self.backend.place();
        Place {
            engine: self.backend.engine().to_string(),
            host,
            database,
            connector: self.connector.name.clone(),
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
