//! The write use cases, once for every shell: `prepare` a request (settle
//! open intents, generate the password, build the plan, and find every
//! refusal that can be known before the operator confirms), then `commit` it
//! through the one write path. A shell calls `prepare`, shows the plan,
//! confirms, calls `commit` and renders; it holds no sequence of its own.

use super::emergency::{self, Diagnosis, Problem};
use super::plan::{self, Action, Plan, PlanOptions, PlanView};
use super::{OpError, Session, protocol};
use crate::journal::Journal;
use crate::secret::Password;

/// Length of every generated password (OS CSPRNG).
pub const GENERATED_LENGTH: usize = 20;

/// Where a reset's new password comes from.
pub enum NewPassword {
    /// From the OS CSPRNG, shown once after the commit.
    Generate,
    /// Typed or piped by the operator (`--new-password-stdin`).
    Given(Password),
}

/// The reset switches the CLI and the console share.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResetFlags {
    /// Also write the connector's unlock values.
    pub unlock: bool,
    /// Make the vendor ask for a new password at next login, where it can.
    pub must_change: bool,
    /// Reset even when the stored value does not have the scheme's shape.
    pub force: bool,
    /// Also turn off the connector's second factors / external-only sign-in.
    pub clear_2fa: bool,
}

/// One write an operator asks for.
pub enum WriteRequest {
    Reset {
        account: String,
        password: NewPassword,
        flags: ResetFlags,
    },
    /// Copy `donor`'s stored password value into `account` (`reset --from`).
    Transplant {
        account: String,
        donor: String,
        flags: ResetFlags,
    },
    /// Restore `account`'s own stored password value (and salt, and
    /// `copy_hash_to` columns) from a backup: a restored copy's URL or a dump
    /// file (`reset --from-backup`).
    FromBackup {
        account: String,
        source: String,
        flags: ResetFlags,
    },
    Unlock {
        account: String,
    },
    /// The connector's `[disable]` writes (`disable ACCOUNT`); the last
    /// enabled admin is refused.
    Disable {
        account: String,
    },
    /// Write back the before-values journal entry `entry` sealed, opened
    /// with the age identity in `identity` (`undo ENTRY --identity FILE`).
    Undo {
        entry: i64,
        identity: std::path::PathBuf,
    },
    /// Break glass: the emergency admin, `account` when given (else the
    /// connector's declared one).
    RestoreAdmin {
        account: Option<String>,
        /// Also turn off second factors / external-only sign-in (`--clear-2fa`).
        clear_2fa: bool,
    },
}

impl WriteRequest {
    /// The request writes the connector's unlock values.
    pub fn unlocks(&self) -> bool {
        match self {
            WriteRequest::Reset { flags, .. }
            | WriteRequest::Transplant { flags, .. }
            | WriteRequest::FromBackup { flags, .. } => flags.unlock,
            WriteRequest::Unlock { .. } | WriteRequest::RestoreAdmin { .. } => true,
            WriteRequest::Undo { .. } | WriteRequest::Disable { .. } => false,
        }
    }

    /// The refusal of a write without `--reason`: it must say why this happens.
    pub fn reason_needed(&self) -> crate::i18n::Said {
        match self {
            WriteRequest::RestoreAdmin { .. } => {
                crate::i18n::Said::key("said.reason_needed_restore", &[])
            }
            _ => crate::i18n::Said::key("said.reason_needed", &[]),
        }
    }

    /// The action, for a refusal ("read-only session: a reset would write …").
    pub fn action(&self) -> &'static str {
        match self {
            WriteRequest::Reset { .. } => "a reset",
            WriteRequest::Transplant { .. } => "a transplant",
            WriteRequest::FromBackup { .. } => "a backup restore",
            WriteRequest::Undo { .. } => "an undo",
            WriteRequest::Unlock { .. } => "an unlock",
            WriteRequest::Disable { .. } => "a disable",
            WriteRequest::RestoreAdmin { .. } => "restore-admin",
        }
    }
}

/// A planned write, every refusal known before confirmation already raised.
pub struct Prepared {
    /// The plan; its statements hold the new hash: never print them.
    pub plan: Plan,
    /// What the operator sees: SQL with placeholders, fingerprints, warnings.
    pub view: PlanView,
    /// Intents earlier runs left open, settled before planning.
    pub notes: Vec<String>,
    /// restore-admin: where the emergency admin is and what is wrong with it.
    pub diagnosis: Option<Diagnosis>,
    /// The password was generated here: show it once after the commit.
    pub generated: bool,
    /// Dry run: what a real run would refuse (an uncalibrated encoder).
    pub refused_for_real: Option<String>,
    /// The plan also writes the connector's unlock values.
    pub unlocks: bool,
    /// The account is locked or disabled (before this write).
    blocked: bool,
}

impl Prepared {
    pub fn nothing_to_do(&self) -> bool {
        self.plan.nothing_to_do()
    }

    /// The login the operator types to confirm.
    pub fn login(&self) -> &str {
        &self.plan.account.login
    }

    pub fn problems(&self) -> &[Problem] {
        self.diagnosis.as_ref().map_or(&[], |d| &d.problems)
    }

    /// The account is locked or disabled: a reset alone leaves it so.
    pub fn account_blocked(&self) -> bool {
        self.blocked
    }

    pub fn donor_label(&self) -> Option<String> {
        self.plan.donor.as_ref().and_then(|d| d.donor_label())
    }

    /// The password to show once: only a generated one.
    pub fn shown_password(&self) -> Option<&Password> {
        self.plan.new_password.as_ref().filter(|_| self.generated)
    }
}

/// A generated password, or the refusal to write without one.
pub fn generate_password() -> Result<Password, OpError> {
    Password::generate(GENERATED_LENGTH).map_err(|e| OpError::Refused(e.to_string().into()))
}

/// The connector's declared emergency admin when it has one and the shell
/// prefers it (the console's Emergency and Drill screens), else `account`.
pub fn emergency_account(
    s: &Session,
    account: Option<String>,
    prefer_declared: bool,
) -> Option<String> {
    if prefer_declared && s.connector.emergency.declared() {
        None
    } else {
        account
    }
}

/// Plans a write. A real run (`dry_run` false) needs the journal and settles
/// this target's open intents first; a dry run writes nothing, not even that.
pub async fn prepare(
    s: &mut Session,
    mut journal: Option<&mut Journal>,
    request: WriteRequest,
    dry_run: bool,
) -> Result<Prepared, OpError> {
    // Before reconcile: a read-only session journals nothing, not even settled intents.
    s.refuse_if_read_only(request.action())?;
    let mut notes = Vec::new();
    if !dry_run {
        let j = journal.as_deref_mut().ok_or_else(journal_missing)?;
        for r in protocol::reconcile(s, j).await? {
            notes.push(r.note());
        }
    }
    let unlocks = request.unlocks();
    let (plan, diagnosis, generated) = build(s, journal.as_deref_mut(), request).await?;
    let state = plan.account.state(&s.connector);
    let blocked = state.locked == Some(true) || state.enabled == Some(false);
    let view = match journal.as_deref() {
        Some(j) => plan.view(&|d: &str, b: &[u8]| j.fingerprint(d, b)),
        None => plan.view(&|_: &str, _: &[u8]| "hmac-sha256:(no journal key yet)".to_string()),
    };
    let mut refused_for_real = None;
    // An uncalibrated encoder is refused here, before the operator confirms
    // (`protocol::apply` checks again, as the write path's own guard).
    if let (Some(j), Some(_)) = (journal, &plan.new_password)
        && !plan.nothing_to_do()
        && let Err(e) = protocol::encoder_gate(s, j)
    {
        if !dry_run {
            return Err(e);
        }
        refused_for_real = Some(e.to_string());
    }
    Ok(Prepared {
        plan,
        view,
        notes,
        diagnosis,
        generated,
        refused_for_real,
        unlocks,
        blocked,
    })
}

async fn build(
    s: &mut Session,
    journal: Option<&mut Journal>,
    request: WriteRequest,
) -> Result<(Plan, Option<Diagnosis>, bool), OpError> {
    let options = |flags: ResetFlags, donor: Option<String>| PlanOptions {
        unlock: flags.unlock,
        must_change: flags.must_change,
        force: flags.force,
        donor,
        ..PlanOptions::default()
    };
    match request {
        WriteRequest::Reset {
            account,
            password,
            flags,
        } => {
            let (password, generated) = match password {
                NewPassword::Generate => (generate_password()?, true),
                NewPassword::Given(p) => (p, false),
            };
            let mut opts = options(flags, None);
            if flags.clear_2fa {
                opts.extra.extend(super::second_factor::clear_writes(s));
            }
            let plan = plan::build(s, &account, Action::Reset, Some(password), &opts).await?;
            Ok((plan, None, generated))
        }
        WriteRequest::Transplant {
            account,
            donor,
            flags,
        } => {
            let opts = options(flags, Some(donor));
            let plan = plan::build(s, &account, Action::Reset, None, &opts).await?;
            Ok((plan, None, false))
        }
        WriteRequest::FromBackup {
            account,
            source,
            flags,
        } => {
            plan::refuse_directory_password(s)?;
            let live = super::account::resolve(s, &account).await?;
            let mut opts = options(flags, None);
            opts.backup = Some(super::backup::fetch(s, &source, &live).await?);
            let plan = plan::build(s, &account, Action::Reset, None, &opts).await?;
            Ok((plan, None, false))
        }
        WriteRequest::Undo { entry, identity } => {
            let j = journal.ok_or_else(|| {
                OpError::Usage("undo reads the journal, and there is none yet".into())
            })?;
            let (account, row) = super::undo::undo_row(s, j, entry, &identity).await?;
            let opts = PlanOptions {
                backup: Some(row),
                ..PlanOptions::default()
            };
            let plan = plan::build(s, &account, Action::Reset, None, &opts).await?;
            Ok((plan, None, false))
        }
        WriteRequest::Unlock { account } => {
            let opts = PlanOptions::default();
            let plan = plan::build(s, &account, Action::Unlock, None, &opts).await?;
            Ok((plan, None, false))
        }
        WriteRequest::Disable { account } => {
            let plan =
                plan::build(s, &account, Action::Disable, None, &PlanOptions::default()).await?;
            if !plan.nothing_to_do() {
                super::offboard::refuse_last_admin(s, &plan.account).await?;
            }
            Ok((plan, None, false))
        }
        WriteRequest::RestoreAdmin { account, clear_2fa } => {
            let diag = emergency::locate(s, account.as_deref()).await?;
            // A vendor without a password in its database (Dynamics) keeps its
            // directory password: the restore re-enables and re-links only.
            let password = match s.connector.keeps_password() {
                true => Some(generate_password()?),
                false => None,
            };
            let generated = password.is_some();
            let plan = emergency::plan_restore_with(s, &diag, password, clear_2fa).await?;
            Ok((plan, Some(diag), generated))
        }
    }
}

/// Applies a prepared write through the one write path (intent, guarded
/// transaction, verify, commit, outcome). restore-admin is journaled as an
/// open break-glass entry there.
pub async fn commit(
    s: &mut Session,
    journal: &mut Journal,
    prepared: &Prepared,
    reason: &str,
) -> Result<protocol::Applied, OpError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(OpError::Usage(
            "a write needs a reason: say why it is made (it is journaled)".into(),
        ));
    }
    protocol::apply(s, journal, &prepared.plan, reason).await
}

fn journal_missing() -> OpError {
    OpError::Usage("internal: a write was prepared without its journal".into())
}
