//! Opening what every use case works on: the session (target + connector +
//! scheme + the operator's encoder) and the journal. The CLI, the console,
//! `drill --on-copy` and `connectors check` all come through here.

use std::path::{Path, PathBuf};

use super::{OpError, Session};
use crate::backend::ssh_tunnel::{Bastion, SshPrompt, SshTunnel, Tunneled};
use crate::backend::{self, Backend, BackendError, Target};
use crate::config;
use crate::connector::{self, Connector};
use crate::journal::Journal;
use crate::schemes::external::EncoderSpec;

/// How to reach a target, as a shell collected it (flags, a profile, a form).
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    /// Parsed, with the DB password filled in (or not) by the shell.
    pub target: Target,
    /// A connector name; detected from the schema when `None`.
    pub connector: Option<String>,
    /// Table prefix for vendors that rename tables (`--prefix`, a profile's `prefix`).
    pub prefix: Option<String>,
    /// The operator's external encoder and who configured it ("--encoder", "profile `x`").
    pub encoder: Option<(EncoderSpec, String)>,
    /// Ask on the terminal (no echo) when the server denies access and no password was given.
    /// The console leaves this off: its form has a password field.
    pub prompt_on_denied: bool,
    /// `--config PATH`; None reads `<config>/locksmith/config.toml` when present.
    pub config: Option<PathBuf>,
    /// Whether ssh (`?ssh=`) may ask the operator: on a terminal it may,
    /// without one it runs with `BatchMode=yes`.
    pub ssh_prompt: SshPrompt,
    /// Called with `true` before ssh may ask and `false` after: the console
    /// leaves its alternate screen meanwhile.
    pub around_ssh: Option<fn(bool)>,
}

impl ConnectSpec {
    /// A spec from a target URL: the password from the environment or `~/.my.cnf`.
    pub fn from_url(raw: &str) -> Result<ConnectSpec, OpError> {
        let mut target = Target::parse(raw).map_err(|e| OpError::Usage(e.to_string().into()))?;
        target.resolve_password();
        Ok(ConnectSpec {
            target,
            connector: None,
            prefix: None,
            encoder: None,
            prompt_on_denied: false,
            config: None,
            ssh_prompt: SshPrompt::detect(),
            around_ssh: None,
        })
    }
}

/// The operator's encoder from a program and its arguments (`--encoder` +
/// `--encoder-arg`, a profile's `encoder = [...]`), validated.
pub fn encoder_spec(command: Vec<String>, origin: &str) -> Result<EncoderSpec, OpError> {
    let spec = EncoderSpec {
        command,
        bound_to_login: false,
    };
    spec.validate()
        .map_err(|m| OpError::Usage(format!("{origin}: {m}").into()))?;
    Ok(spec)
}

/// Shipped connectors plus the operator's own (`<config>/locksmith/connectors`).
pub fn connectors() -> Result<Vec<Connector>, OpError> {
    connectors_with(None)
}

/// As `connectors`, then the files of `extra` (`--connectors-dir`, the
/// demo's kept connectors) on top.
pub fn connectors_with(extra: Option<&Path>) -> Result<Vec<Connector>, OpError> {
    let user = connector::user_dir();
    Ok(connector::load_layers(&[user.as_deref(), extra])?)
}

/// Every connector with the install's table prefix applied.
pub fn with_prefix(all: &[Connector], prefix: Option<&str>) -> Result<Vec<Connector>, OpError> {
    match prefix {
        None => Ok(all.to_vec()),
        Some(p) => Ok(all
            .iter()
            .map(|c| c.clone().with_prefix(p))
            .collect::<Result<_, _>>()?),
    }
}

/// Connects to the target, through an SSH forward when it names a bastion
/// (`?ssh=`). An "access denied" without a password asks once (when the
/// spec allows it) and retries with what was typed.
pub async fn open_backend(spec: &ConnectSpec) -> Result<(Box<dyn Backend>, Target), OpError> {
    let mut target = spec.target.clone();
    let tunnel = match target.ssh.clone() {
        Some(bastion) => Some(open_tunnel(spec, &bastion, &mut target).await?),
        None => None,
    };
    let connected = connect_prompting(spec, &mut target).await;
    match (connected, tunnel) {
        (Ok(b), Some(t)) => {
            let through: Box<dyn Backend> = Box::new(Tunneled::new(b, t));
            Ok((through, target))
        }
        (Ok(b), None) => Ok((b, target)),
        // What ssh said ("channel 1: open failed: …") tells why the database did not answer.
        (
            Err(BackendError::Connect {
                target: shown,
                reason,
            }),
            Some(t),
        ) => Err(OpError::Backend(BackendError::Connect {
            target: shown,
            reason: format!("{reason} (through ssh to {}; {})", t.bastion, t.ssh_said()),
        })),
        (Err(e), _) => Err(e.into()),
    }
}

async fn connect_prompting(
    spec: &ConnectSpec,
    target: &mut Target,
) -> Result<Box<dyn Backend>, BackendError> {
    let first = backend::connect(target).await;
    let denied = matches!(&first,
        Err(BackendError::Connect { reason, .. }) if reason.starts_with("access denied"));
    if denied && spec.prompt_on_denied && target.password.is_none() && target.prompt_password() {
        return backend::connect(target).await;
    }
    first
}

/// Starts ssh with a forward to the database as the bastion sees it and
/// points the target's dial at the forward's local end.
async fn open_tunnel(
    spec: &ConnectSpec,
    bastion: &Bastion,
    target: &mut Target,
) -> Result<SshTunnel, OpError> {
    let around = spec
        .around_ssh
        .filter(|_| spec.ssh_prompt == SshPrompt::Terminal);
    if let Some(f) = around {
        f(true);
    }
    let opened = SshTunnel::open(bastion, &target.host, target.tcp_port(), spec.ssh_prompt).await;
    if let Some(f) = around {
        f(false);
    }
    let tunnel = opened.map_err(|reason| BackendError::Connect {
        target: target.display(),
        reason,
    })?;
    target.dial = Some(("127.0.0.1".to_string(), tunnel.local_port));
    Ok(tunnel)
}

/// Connects, picks the connector (named or detected, with the table prefix)
/// and swaps in the operator's encoder.
pub async fn open_session(spec: &ConnectSpec, all: &[Connector]) -> Result<Session, OpError> {
    let all = with_prefix(all, spec.prefix.as_deref())?;
    let (backend, target) = open_backend(spec).await?;
    let mut s = Session::on_backend(backend, &target, spec.connector.as_deref(), &all).await?;
    if let Some((encoder, origin)) = &spec.encoder {
        s.set_encoder(encoder.clone(), origin)?;
    }
    let config = crate::config::load(spec.config.as_deref())
        .map_err(|e| OpError::Usage(e.to_string().into()))?;
    s.seal_to = config.journal.seal_to;
    Ok(s)
}

/// Which journal a command uses: `--journal PATH` (key `PATH.key`), else
/// `config.toml` `[journal] path` (a group-shared system journal), else the
/// user's own in the state dir.
pub fn journal_location(explicit: Option<&Path>) -> Result<config::JournalLocation, OpError> {
    let usage = |e: config::ConfigError| OpError::Usage(e.to_string().into());
    let cfg = config::load(None).map_err(usage)?;
    config::journal_location(explicit, &cfg.journal).map_err(usage)
}

/// The journal file and its HMAC key (see `journal_location`).
pub fn journal_paths(explicit: Option<&Path>) -> Result<(PathBuf, PathBuf), OpError> {
    journal_location(explicit).map(|l| (l.path, l.key))
}

/// Opens (creating when missing) the journal, with the sharing config.toml
/// gives its path. A write without a journal is refused.
pub fn open_journal(paths: &(PathBuf, PathBuf)) -> Result<Journal, OpError> {
    open_journal_forwarding(paths, None, None)
}

/// As [`open_journal`], forwarding every entry to `forward` (`--forward`)
/// instead of `[journal] forward`, reading `config_file` (`--config`) when
/// given; a bad URL, or `forward_required` without RELP, is refused before
/// anything is opened.
pub fn open_journal_forwarding(
    paths: &(PathBuf, PathBuf),
    forward: Option<&str>,
    config_file: Option<&Path>,
) -> Result<Journal, OpError> {
    config::open_journal_forwarding(&paths.0, &paths.1, forward, config_file).map_err(|e| match e {
        config::ConfigError::Journal(j) => OpError::Journal(j),
        other => OpError::Usage(other.said()),
    })
}

/// The forwarding `--forward` (`explicit`) or `[journal] forward` asks for.
pub fn forward_setting(
    explicit: Option<&str>,
    config_file: Option<&Path>,
) -> Result<Option<crate::forward::ForwardSetting>, OpError> {
    let usage = |e: config::ConfigError| OpError::Usage(e.said());
    let cfg = config::load(config_file).map_err(usage)?;
    config::forward_setting(explicit, &cfg.journal).map_err(usage)
}

/// The journal for a dry run: an existing one only (for its fingerprint key);
/// a dry run creates nothing.
pub fn existing_journal(paths: &(PathBuf, PathBuf)) -> Option<Journal> {
    if paths.0.exists() {
        open_journal(paths).ok()
    } else {
        None
    }
}
