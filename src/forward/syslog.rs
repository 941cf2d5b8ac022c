//! One journal entry as an RFC 5424 syslog message, framed for TCP by RFC
//! 6587 octet counting.
//!
//! ```text
//! <85>1 2026-12-01T10:00:00.123Z box locksmith 4242 intent [locksmith@32473 id="12" kind="intent"
//!   action="reset" account="admin" target="mysql://10.0.0.5:3306/crm" connector="ruoyi"
//!   hash="…" prev_hash="…" user="zhang" uid="0" login="root" sudo_user="zhang"] intent #12 reset admin
//! ```
//!
//! Facility authpriv (10); severity notice (5), warning (4) for an outcome
//! that is not `committed`. The timestamp is the entry's own (a resend is
//! the same message). Only what an auditor matches on travels: ids, kinds,
//! labels, the chain hash — the sealed details (fingerprints, SQL) and the
//! reason stay in the journal, found there by id and hash.

use crate::journal::{Entry, Outcome};

/// The structured-data ID: `name@PEN`. 32473 is the example enterprise
/// number of RFC 5612 (Locksmith has none registered); SIEM rules match on it.
pub const SD_ID: &str = "locksmith@32473";

const FACILITY_AUTHPRIV: u8 = 10;

/// RFC 5424 PARAM-VALUE: `"`, `\` and `]` escaped with a backslash.
fn param_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        // Line breaks would split the message for receivers that read lines.
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// A header field: printable US-ASCII, at most `max` characters, `-` when empty.
fn header_field(value: &str, max: usize) -> String {
    let clean: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if clean.is_empty() { "-".into() } else { clean }
}

fn kind_name(entry: &Entry) -> String {
    serde_json::to_value(entry.entry.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "entry".into())
}

fn outcome_name(outcome: &Outcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The target as one string: `engine://host/database` (and the bastion).
pub fn target_of(entry: &Entry) -> String {
    let p = &entry.entry.place;
    let mut t = format!("{}://{}/{}", p.engine, p.host, p.database);
    if let Some(via) = &p.via {
        t.push_str(&format!(" via {via}"));
    }
    t
}

/// The structured-data parameters of an entry, in order.
pub fn params(entry: &Entry) -> Vec<(&'static str, String)> {
    let e = &entry.entry;
    let mut out = vec![
        ("id", entry.id.to_string()),
        ("kind", kind_name(entry)),
        ("action", e.action.clone()),
    ];
    let mut opt = |name: &'static str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.push((name, v));
        }
    };
    opt("refers_to", e.refers_to.map(|r| r.to_string()));
    opt("account", e.account.clone());
    opt("outcome", e.outcome.as_ref().map(outcome_name));
    opt("target", Some(target_of(entry)));
    opt("connector", Some(e.place.connector.clone()));
    opt("at", Some(entry.at.clone()));
    opt("hash", Some(entry.hash.clone()));
    opt("prev_hash", Some(entry.prev_hash.clone()));
    opt("user", Some(e.actor.who().to_owned()));
    opt("os_user", Some(e.actor.os_user.clone()));
    opt("login", e.actor.login.clone());
    opt("uid", e.actor.uid.map(|u| u.to_string()));
    opt("sudo_user", e.actor.sudo_user.clone());
    opt("sudo_uid", e.actor.sudo_uid.map(|u| u.to_string()));
    opt("ssh_origin", e.actor.ssh_origin.clone());
    out
}

/// The RFC 5424 message for `entry`, sent from `hostname` by process `pid`.
pub fn message(entry: &Entry, hostname: &str, pid: u32) -> String {
    let severity = match &entry.entry.outcome {
        None | Some(Outcome::Committed) => 5,
        Some(_) => 4,
    };
    let pri = FACILITY_AUTHPRIV * 8 + severity;
    let kind = kind_name(entry);
    let mut sd = format!("[{SD_ID}");
    for (name, value) in params(entry) {
        sd.push_str(&format!(" {name}=\"{}\"", param_value(&value)));
    }
    sd.push(']');
    let mut msg = format!("{kind} #{} {}", entry.id, entry.entry.action);
    if let Some(a) = &entry.entry.account {
        msg.push(' ');
        msg.push_str(a);
    }
    if let Some(o) = &entry.entry.outcome {
        msg.push(' ');
        msg.push_str(&outcome_name(o));
    }
    let msg: String = msg
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // RFC 5424 6.4: a UTF-8 MSG starts with the byte order mark.
    let bom = if msg.is_ascii() { "" } else { "\u{feff}" };
    format!(
        "<{pri}>1 {} {} locksmith {pid} {} {sd} {bom}{msg}",
        header_field(&entry.at, 64),
        header_field(hostname, 255),
        header_field(&kind, 32),
    )
}

/// RFC 6587 octet counting: `LEN SP MSG`, LEN the byte length of MSG.
pub fn octet_counted(message: &str) -> Vec<u8> {
    let mut frame = format!("{} ", message.len()).into_bytes();
    frame.extend_from_slice(message.as_bytes());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Actor, EntryKind, NewEntry, Place};

    fn sample(account: &str, outcome: Option<Outcome>) -> Entry {
        Entry {
            id: 7,
            at: "2026-12-01T10:00:00.123Z".into(),
            entry: NewEntry {
                kind: if outcome.is_some() {
                    EntryKind::Outcome
                } else {
                    EntryKind::Intent
                },
                refers_to: outcome.as_ref().map(|_| 6),
                action: "reset".into(),
                account: Some(account.into()),
                reason: Some("INC-1 \"secret\" reason".into()),
                outcome,
                actor: Actor {
                    os_user: "root".into(),
                    uid: Some(0),
                    login: Some("root".into()),
                    sudo_user: Some("zhang".into()),
                    sudo_uid: Some(1000),
                    ..Actor::default()
                },
                place: Place {
                    engine: "mysql".into(),
                    host: "10.0.0.5:3306".into(),
                    database: "crm".into(),
                    connector: "ruoyi".into(),
                    via: None,
                },
                details: serde_json::json!({"columns": [{"before": "hmac-sha256:ab"}]}),
            },
            prev_hash: "00".repeat(32),
            hash: "ab".repeat(32),
        }
    }

    #[test]
    fn a_message_has_the_rfc5424_header_and_escaped_structured_data() {
        let m = message(&sample("a\"d]m\\in", None), "box", 42);
        assert!(
            m.starts_with("<85>1 2026-12-01T10:00:00.123Z box locksmith 42 intent [locksmith@32473 id=\"7\" kind=\"intent\" action=\"reset\" account=\"a\\\"d\\]m\\\\in\""),
            "{m}"
        );
        assert!(m.contains(&format!("hash=\"{}\"", "ab".repeat(32))), "{m}");
        assert!(
            m.contains("user=\"zhang\"") && m.contains("uid=\"0\""),
            "{m}"
        );
        // The reason and the sealed details stay in the journal.
        assert!(!m.contains("INC-1") && !m.contains("hmac-sha256"), "{m}");
    }

    #[test]
    fn a_failed_outcome_is_a_warning_and_utf8_text_carries_the_bom() {
        let m = message(&sample("张三", Some(Outcome::Failed)), "", 1);
        assert!(m.starts_with("<84>1 "), "{m}");
        assert!(m.contains(" - locksmith 1 outcome "), "{m}");
        assert!(m.ends_with("\u{feff}outcome #7 reset 张三 failed"), "{m}");
        let frame = octet_counted(&m);
        let text = String::from_utf8(frame).unwrap();
        let (len, rest) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), rest.len());
    }
}
