//! The journal leaves the box: every entry, once durable in the local
//! journal, goes to a syslog receiver as RFC 5424 with structured data
//! (`syslog.rs`) over TCP or TLS (RFC 6587 octet counting, best effort) or
//! RELP (`relp.rs`, each message acknowledged).
//!
//! The journal itself is the spool. Beside it, `JOURNAL.forward` keeps, per
//! destination, the newest entry the receiver has (acknowledged over RELP,
//! known written over TCP/TLS) and that entry's chain hash; every flush sends
//! what follows it, in order. A receiver that is down leaves the entries
//! waiting for the next append (of any run) or `locksmith audit forward`.
//! A resend after a failure may repeat entries: receivers drop duplicates by
//! entry id + chain hash. `JOURNAL.forward.lock` keeps two sessions from
//! sending the same stretch at once.
//!
//! `forward_required` (RELP only): `ops::protocol` refuses a write whose
//! intent was not acknowledged ([`crate::journal::Journal::unacknowledged`]).

pub mod formats;
mod relp;
pub mod syslog;
mod transport;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::i18n::Said;
use crate::journal::{AfterAppend, Journal, Sharing};

/// Entries read from the journal per round.
const BATCH: i64 = 500;
/// Best effort: after a failed flush, appends in the same process wait this
/// long before trying the receiver again (the entries wait in the journal).
const RETRY_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `syslog+tcp://host:port`
    Tcp,
    /// `syslog+tls://host[:port][?ca=/path.pem]` (port 6514 by default, RFC 5425)
    Tls { ca: Option<PathBuf> },
    /// `relp://host:port`
    Relp,
}

/// Where the journal goes: a parsed forward URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
    /// The URL as given: the key of its cursor.
    pub url: String,
}

impl Destination {
    /// Parses `syslog+tcp://`, `syslog+tls://` or `relp://` URLs; the
    /// refusal names what to fix (a catalog message).
    pub fn parse(raw: &str) -> Result<Destination, Said> {
        let url = url::Url::parse(raw.trim())
            .map_err(|e| Said::key("said.forward.url", &[("url", &raw), ("why", &e)]))?;
        let bad = |key: &'static str| Said::key(key, &[("url", &raw)]);
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return Err(bad("said.forward.url_host")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("said.forward.url_userinfo"));
        }
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(bad("said.forward.url_path"));
        }
        let mut ca = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "ca" if url.scheme() == "syslog+tls" => ca = Some(PathBuf::from(v.as_ref())),
                _ => return Err(bad("said.forward.url_query")),
            }
        }
        let (transport, default_port) = match url.scheme() {
            "syslog+tcp" => (Transport::Tcp, None),
            "syslog+tls" => (Transport::Tls { ca }, Some(6514)),
            "relp" => (Transport::Relp, None),
            _ => return Err(bad("said.forward.url_scheme")),
        };
        let port = url
            .port()
            .or(default_port)
            .ok_or_else(|| bad("said.forward.url_port"))?;
        Ok(Destination {
            transport,
            host,
            port,
            url: raw.trim().to_string(),
        })
    }

    pub fn acknowledged(&self) -> bool {
        self.transport == Transport::Relp
    }
}

/// `[journal] forward` / `--forward` and `forward_required`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSetting {
    pub destination: Destination,
    pub required: bool,
}

impl ForwardSetting {
    /// `required` needs an acknowledging transport (RELP).
    pub fn new(url: &str, required: bool) -> Result<ForwardSetting, Said> {
        let destination = Destination::parse(url)?;
        if required && !destination.acknowledged() {
            return Err(Said::key("said.forward.required_relp", &[("url", &url)]));
        }
        Ok(ForwardSetting {
            destination,
            required,
        })
    }
}

/// Where one destination stands: the newest entry it has, and its hash (a
/// journal replaced under the same path starts again from its first entry).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    through: i64,
    hash: String,
}

/// What one flush did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Flushed {
    pub destination: String,
    /// Entries sent (acknowledged over RELP) in this flush.
    pub sent: u64,
    /// The newest entry the destination has.
    pub through: i64,
    /// The newest entry of the journal.
    pub newest: i64,
    /// Why the rest is still waiting.
    pub error: Option<String>,
}

impl Flushed {
    pub fn waiting(&self) -> i64 {
        (self.newest - self.through).max(0)
    }
}

/// Sends the journal's entries to one destination (the journal's
/// after-append hook, and `audit forward`).
pub struct Forwarder {
    setting: ForwardSetting,
    state: PathBuf,
    lock: PathBuf,
    sharing: Sharing,
    hostname: String,
    through: i64,
    last: Option<Flushed>,
    /// When the last flush failed: best effort waits `RETRY_AFTER` before
    /// trying again in this process, so a dead receiver does not slow every write.
    failed_at: Option<Instant>,
    /// The RELP session of the last successful flush, reused by the next.
    kept: Option<Link>,
}

fn beside(journal: &Path, suffix: &str) -> PathBuf {
    let mut p = journal.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn hostname() -> String {
    #[cfg(unix)]
    {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_default()
    }
}

impl Forwarder {
    pub fn new(setting: ForwardSetting, journal: &Path, sharing: Sharing) -> Forwarder {
        Forwarder {
            setting,
            state: beside(journal, ".forward"),
            lock: beside(journal, ".forward.lock"),
            sharing,
            hostname: hostname(),
            through: 0,
            last: None,
            failed_at: None,
            kept: None,
        }
    }

    /// What the last flush did.
    pub fn last(&self) -> Option<&Flushed> {
        self.last.as_ref()
    }

    fn open_private(&self, path: &Path) -> std::io::Result<File> {
        #[cfg(unix)]
        use std::os::unix::fs::OpenOptionsExt;
        let mut o = OpenOptions::new();
        o.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        o.mode(self.sharing.file_mode());
        let f = o.open(path)?;
        self.sharing.adopt(&f)?;
        Ok(f)
    }

    fn read_cursors(&self) -> BTreeMap<String, Cursor> {
        std::fs::read_to_string(&self.state)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Written to a temporary file and renamed: a crash leaves the old or
    /// the new cursor (an old one only means duplicates). Not fsynced: the
    /// write path's fsyncs stay the journal's.
    fn write_cursor(&self, cursor: Cursor) -> Result<(), String> {
        let mut all = self.read_cursors();
        all.insert(self.setting.destination.url.clone(), cursor);
        let text = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
        let tmp = beside(&self.state, ".tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = self
            .open_private(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.state).map_err(|e| format!("{}: {e}", self.state.display()))
    }

    /// The destination's cursor, checked against the journal: the entry it
    /// names must still carry its hash, else everything is sent again.
    fn cursor(&self, j: &mut Journal) -> Cursor {
        let c = self
            .read_cursors()
            .remove(&self.setting.destination.url)
            .unwrap_or_default();
        if c.through <= 0 {
            return Cursor::default();
        }
        match j.entries_after(c.through - 1, 1) {
            Ok(e)
                if e.first()
                    .is_some_and(|e| e.id == c.through && e.hash == c.hash) =>
            {
                c
            }
            _ => Cursor::default(),
        }
    }

    /// Where the destination stands, without sending anything (`status`).
    pub fn pending(&self, j: &mut Journal) -> Flushed {
        Flushed {
            destination: self.setting.destination.url.clone(),
            sent: 0,
            through: self.cursor(j).through,
            newest: j.newest_id().unwrap_or(0),
            error: None,
        }
    }

    /// Sends every entry after the destination's cursor, in order, and
    /// moves the cursor. Holds the forward lock meanwhile.
    pub fn flush(&mut self, j: &mut Journal) -> Flushed {
        let flushed = self.flush_locked(j);
        self.through = flushed.through;
        self.last = Some(flushed.clone());
        if let Some(e) = &flushed.error {
            tracing::warn!(destination = %flushed.destination, waiting = flushed.waiting(), error = %e, "forwarding failed");
        }
        flushed
    }

    fn flush_locked(&mut self, j: &mut Journal) -> Flushed {
        let mut out = Flushed {
            destination: self.setting.destination.url.clone(),
            sent: 0,
            through: self.through,
            newest: j.newest_id().unwrap_or(0),
            error: None,
        };
        let lock = match self.open_private(&self.lock) {
            Ok(f) => f,
            Err(e) => {
                out.error = Some(format!("{}: {e}", self.lock.display()));
                return out;
            }
        };
        if let Err(e) = fs4::FileExt::lock(&lock) {
            out.error = Some(format!("{}: {e}", self.lock.display()));
            return out;
        }
        let mut cursor = self.cursor(j);
        out.through = cursor.through;
        out.newest = j.newest_id().unwrap_or(out.newest);
        if cursor.through < out.newest {
            let result = self.send_from(j, &mut cursor, &mut out);
            if let Err(e) = self.write_cursor(cursor.clone()) {
                out.error.get_or_insert(e);
            }
            if let Err(e) = result {
                out.error = Some(e);
            }
        }
        out.through = cursor.through;
        let _ = fs4::FileExt::unlock(&lock);
        out
    }

    /// Sends every entry after `cursor`; `cursor` follows what the receiver
    /// has. A RELP session kept from the previous flush is tried first; when
    /// it broke meanwhile (the receiver restarted), one fresh session resends
    /// from the cursor.
    fn send_from(
        &mut self,
        j: &mut Journal,
        cursor: &mut Cursor,
        out: &mut Flushed,
    ) -> Result<(), String> {
        if let Some(kept) = self.kept.take()
            && let Ok(link) = self.send_on(kept, j, cursor, out)
        {
            self.keep(link);
            return Ok(());
        }
        let dest = &self.setting.destination;
        let stream = transport::connect(dest)?;
        let link = match dest.transport {
            Transport::Relp => Link::Relp(relp::Relp::open(stream)?),
            _ => Link::Syslog(stream),
        };
        let link = self.send_on(link, j, cursor, out)?;
        self.keep(link);
        Ok(())
    }

    /// Sends every batch over `link`; on an error the link is dropped.
    fn send_on(
        &self,
        mut link: Link,
        j: &mut Journal,
        cursor: &mut Cursor,
        out: &mut Flushed,
    ) -> Result<Link, String> {
        let pid = std::process::id();
        loop {
            let batch = j
                .entries_after(cursor.through, BATCH)
                .map_err(|e| e.to_string())?;
            if batch.is_empty() {
                return Ok(link);
            }
            let messages: Vec<(i64, String)> = batch
                .iter()
                .map(|e| (e.id, syslog::message(e, &self.hostname, pid)))
                .collect();
            let mut done = cursor.through;
            let sent = link.send(&messages, &mut done);
            let delivered: Vec<&crate::journal::Entry> =
                batch.iter().filter(|e| e.id <= done).collect();
            if let Some(last) = delivered.last() {
                out.sent += delivered.len() as u64;
                *cursor = Cursor {
                    through: last.id,
                    hash: last.hash.clone(),
                };
            }
            sent?;
        }
    }

    /// A RELP session stays open for the next append (every message is
    /// acknowledged, so a broken one is noticed); TCP and TLS are closed,
    /// since a stale TCP connection takes writes the receiver never reads.
    fn keep(&mut self, link: Link) {
        match link {
            Link::Relp(_) => self.kept = Some(link),
            Link::Syslog(_) => link.finish(),
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(link) = self.kept.take() {
            link.finish();
        }
    }
}

/// One connection to the destination.
enum Link {
    Syslog(transport::Stream),
    Relp(relp::Relp),
}

impl Link {
    fn send(&mut self, messages: &[(i64, String)], done: &mut i64) -> Result<(), String> {
        match self {
            Link::Relp(r) => r.syslog(messages, done),
            Link::Syslog(s) => {
                for (id, m) in messages {
                    s.write_all(&syslog::octet_counted(m))
                        .map_err(|e| format!("sending entry #{id}: {e}"))?;
                    *done = *id;
                }
                s.flush().map_err(|e| format!("sending: {e}"))
            }
        }
    }

    fn finish(self) {
        match self {
            Link::Relp(r) => r.close(),
            Link::Syslog(s) => s.finish(),
        }
    }
}

impl AfterAppend for Forwarder {
    fn durable(&mut self, journal: &mut Journal, newest: i64) {
        // forward_required asks every time: its answer decides the write.
        let resting =
            !self.setting.required && self.failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER);
        if resting {
            if let Some(last) = &mut self.last {
                last.newest = newest;
            }
            return;
        }
        let flushed = self.flush(journal);
        self.failed_at = flushed.error.as_ref().map(|_| Instant::now());
    }

    fn unacknowledged(&self, id: i64) -> Option<String> {
        if !self.setting.required || self.through >= id {
            return None;
        }
        Some(
            self.last
                .as_ref()
                .and_then(|l| l.error.clone())
                .unwrap_or_else(|| "not acknowledged".into()),
        )
    }

    fn waiting(&self) -> Option<Said> {
        let last = self.last.as_ref().filter(|l| l.waiting() > 0)?;
        Some(Said::key(
            "said.forward.waiting",
            &[
                ("destination", &last.destination),
                ("waiting", &last.waiting()),
                ("why", &last.error.as_deref().unwrap_or("")),
            ],
        ))
    }
}

/// Attaches the forwarder for `setting` to `journal` (what opening a
/// journal does when forwarding is configured).
pub fn attach(journal: &mut Journal, setting: ForwardSetting, sharing: Sharing) {
    let f = Forwarder::new(setting, journal.path(), sharing);
    journal.set_after_append(Box::new(f));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Actor, EntryKind, NewEntry, Place};

    fn note(journal: &mut Journal) {
        journal
            .append(&NewEntry {
                kind: EntryKind::Note,
                refers_to: None,
                action: "note".into(),
                account: None,
                reason: None,
                outcome: None,
                actor: Actor::default(),
                place: Place::default(),
                details: serde_json::json!({}),
            })
            .unwrap();
    }

    /// Connections a listener that answers nothing (a broken receiver) accepted.
    fn accepted(listener: &std::net::TcpListener) -> usize {
        std::iter::from_fn(|| listener.accept().ok()).count()
    }

    #[test]
    fn best_effort_rests_after_a_failure_and_required_asks_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("relp://127.0.0.1:{}", listener.local_addr().unwrap().port());
        for (required, connections) in [(false, 1), (true, 3)] {
            let path = dir.path().join(format!("j-{required}.sqlite"));
            let mut j =
                Journal::open(&path, &dir.path().join(format!("j-{required}.key"))).unwrap();
            attach(
                &mut j,
                ForwardSetting::new(&url, required).unwrap(),
                Sharing::Private,
            );
            // A closed connection without an answer stands in for a receiver that fails fast.
            let closer = std::thread::spawn({
                let l = listener.try_clone().unwrap();
                move || {
                    let mut n = 0;
                    let until = Instant::now() + Duration::from_secs(20);
                    while n < connections && Instant::now() < until {
                        match l.accept() {
                            Ok((s, _)) => {
                                drop(s);
                                n += 1;
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                    n
                }
            });
            for _ in 0..3 {
                note(&mut j);
            }
            let got = closer.join().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(
                got + accepted(&listener),
                connections,
                "required = {required}"
            );
            assert_eq!(j.unacknowledged(3).is_some(), required);
            let waiting = j.waiting().unwrap().to_string();
            assert!(waiting.contains("3 journal entries wait"), "{waiting}");
        }
    }

    #[test]
    fn forward_urls_parse_and_refuse_what_would_be_a_mistake() {
        let d = Destination::parse("relp://127.0.0.1:2514").unwrap();
        assert_eq!(
            (d.transport, d.host.as_str(), d.port),
            (Transport::Relp, "127.0.0.1", 2514)
        );
        let d = Destination::parse("syslog+tls://siem.corp?ca=/etc/ca.pem").unwrap();
        assert_eq!(d.port, 6514);
        assert_eq!(
            d.transport,
            Transport::Tls {
                ca: Some("/etc/ca.pem".into())
            }
        );
        let d = Destination::parse("syslog+tcp://[::1]:514").unwrap();
        assert_eq!(d.host, "::1");
        let key = |raw: &str| match Destination::parse(raw) {
            Err(Said::Key { key, .. }) => key,
            other => panic!("{raw}: {other:?}"),
        };
        assert_eq!(key("syslog+udp://h:514"), "said.forward.url_scheme");
        assert_eq!(key("relp://h"), "said.forward.url_port");
        assert_eq!(key("syslog+tcp://h:514?ca=/x"), "said.forward.url_query");
        assert_eq!(key("relp://u:p@h:1"), "said.forward.url_userinfo");
        assert_eq!(key("relp://h:1/x"), "said.forward.url_path");
        assert_eq!(key("not a url"), "said.forward.url");
        assert!(ForwardSetting::new("relp://h:1", true).is_ok());
        assert!(matches!(
            ForwardSetting::new("syslog+tcp://h:1", true),
            Err(Said::Key {
                key: "said.forward.required_relp",
                ..
            })
        ));
    }
}
