//! Posture as Prometheus metrics: the node_exporter textfile format
//! (`--prom-file PATH` on `check`, `status` and `fleet check|status`).
//! Base units (seconds), HELP and TYPE once per family, label values
//! escaped, no timestamps; the file is written to a temporary file in the
//! same directory and renamed over PATH, so the collector never reads half
//! a file. Labels: `site`, `target` (host[:port]/database, never a URL's
//! userinfo), `connector`; fleet runs add `profile`.
//!
//! `check` and `status` write disjoint families, so both files may sit in
//! the collector's directory at once.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::OpError;
use super::audit::Status;
use super::posture::{Level, Posture};
use crate::backend::Target;
use crate::i18n::Said;
use crate::journal::{EntryKind, Journal, Place};

/// Every family this module writes: name, HELP text. All are gauges.
const FAMILIES: &[(&str, &str)] = &[
    (
        "locksmith_check_up",
        "1 when the check reached the target and ran, 0 when it could not (connection, timeout, refusal).",
    ),
    (
        "locksmith_check_result",
        "Result of one posture check: 0 ok, 1 warning, 2 failed.",
    ),
    (
        "locksmith_check_failed_checks",
        "Number of posture checks that failed on the target.",
    ),
    (
        "locksmith_emergency_admin_healthy",
        "1 when the emergency admin exists, is enabled, unlocked and linked to the admin role, else 0.",
    ),
    (
        "locksmith_enabled_admins",
        "Enabled, unlocked admin accounts on the target.",
    ),
    (
        "locksmith_default_password_accounts",
        "Accounts found on one of the vendor's default passwords.",
    ),
    (
        "locksmith_check_duration_seconds",
        "How long the check of the target took.",
    ),
    (
        "locksmith_check_last_run_timestamp_seconds",
        "When the check ran (Unix time).",
    ),
    (
        "locksmith_status_up",
        "1 when the status run reached the target, 0 when it could not.",
    ),
    (
        "locksmith_break_glass_open",
        "Break-glass entries (restore-admin) still open in the journal.",
    ),
    (
        "locksmith_break_glass_overdue",
        "Open break-glass entries older than the allowed time (--max-open-hours).",
    ),
    (
        "locksmith_break_glass_oldest_open_seconds",
        "Age of the oldest open break-glass entry; 0 when none is open.",
    ),
    (
        "locksmith_drill_last_success_age_seconds",
        "Seconds since the last successful drill on the target; +Inf when it was never drilled.",
    ),
    (
        "locksmith_status_last_run_timestamp_seconds",
        "When the status ran (Unix time).",
    ),
];

/// The identity of a target in the metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Labels {
    pub site: String,
    pub target: String,
    pub connector: String,
    /// The profile's name in fleet runs.
    pub profile: Option<String>,
}

impl Labels {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("site", self.site.clone()),
            ("target", self.target.clone()),
            ("connector", self.connector.clone()),
        ];
        if let Some(p) = &self.profile {
            out.push(("profile", p.clone()));
        }
        out
    }
}

/// One sample: a family, its labels, a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

fn sample(name: &'static str, labels: &Labels, value: f64) -> Sample {
    Sample {
        name,
        labels: labels.pairs(),
        value,
    }
}

/// `host[:port]/database` as the journal's place names it: never the user
/// or a password, never the URL's query.
pub fn place_label(place: &Place) -> String {
    format!("{}/{}", place.host, place.database)
}

/// The same identity from a URL, for a target that was never reached
/// (PostgreSQL's place always names the port, MySQL's only a given one).
pub fn target_label(t: &Target) -> String {
    if t.engine == "sqlite" {
        return t.database.clone();
    }
    let instance = t
        .instance
        .as_deref()
        .map(|i| format!("\\{i}"))
        .unwrap_or_default();
    let port = match (t.engine.as_str(), t.port) {
        ("postgres", p) => format!(":{}", p.unwrap_or(5432)),
        (_, Some(p)) => format!(":{p}"),
        (_, None) => String::new(),
    };
    format!("{}{instance}{port}/{}", t.host, t.database)
}

fn level_value(l: Level) -> f64 {
    match l {
        Level::Ok => 0.0,
        Level::Warn => 1.0,
        Level::Fail => 2.0,
    }
}

/// The check families for one target: `posture` is `None` when the check
/// could not run (then only `locksmith_check_up 0` and the run time).
pub fn posture_samples(
    labels: &Labels,
    posture: Option<&Posture>,
    seconds: f64,
    now: i64,
) -> Vec<Sample> {
    let mut out = vec![sample(
        "locksmith_check_up",
        labels,
        if posture.is_some() { 1.0 } else { 0.0 },
    )];
    if let Some(p) = posture {
        for f in &p.findings {
            let mut s = sample("locksmith_check_result", labels, level_value(f.level));
            s.labels.push(("check", f.check.to_string()));
            out.push(s);
        }
        let failed = p.findings.iter().filter(|f| f.level == Level::Fail).count();
        out.push(sample(
            "locksmith_check_failed_checks",
            labels,
            failed as f64,
        ));
        if let Some(f) = p
            .findings
            .iter()
            .find(|f| f.check == "emergency_admin" && f.level != Level::Warn)
        {
            let healthy = if f.level == Level::Ok { 1.0 } else { 0.0 };
            out.push(sample("locksmith_emergency_admin_healthy", labels, healthy));
        }
        out.push(sample(
            "locksmith_enabled_admins",
            labels,
            p.enabled_admins as f64,
        ));
        out.push(sample(
            "locksmith_default_password_accounts",
            labels,
            p.default_password_accounts as f64,
        ));
    }
    out.push(sample("locksmith_check_duration_seconds", labels, seconds));
    out.push(sample(
        "locksmith_check_last_run_timestamp_seconds",
        labels,
        now as f64,
    ));
    out
}

/// What `status` says about one place: its open break-glass entries and
/// its last successful drill.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlaceStatus {
    pub open: usize,
    pub overdue: usize,
    pub oldest_open_seconds: i64,
    /// Seconds since the last successful drill; `None`: never drilled.
    pub last_drill_age_seconds: Option<i64>,
}

/// The status families for one target (`status` `None`: not reached).
pub fn status_samples(labels: &Labels, status: Option<&PlaceStatus>, fleet: bool) -> Vec<Sample> {
    let mut out = Vec::new();
    if fleet {
        let up = if status.is_some() { 1.0 } else { 0.0 };
        out.push(sample("locksmith_status_up", labels, up));
    }
    if let Some(st) = status {
        out.push(sample("locksmith_break_glass_open", labels, st.open as f64));
        out.push(sample(
            "locksmith_break_glass_overdue",
            labels,
            st.overdue as f64,
        ));
        out.push(sample(
            "locksmith_break_glass_oldest_open_seconds",
            labels,
            st.oldest_open_seconds as f64,
        ));
        let age = st
            .last_drill_age_seconds
            .map_or(f64::INFINITY, |s| s as f64);
        out.push(sample(
            "locksmith_drill_last_success_age_seconds",
            labels,
            age,
        ));
    }
    out
}

/// The run's own timestamp (no target labels: a `status` run covers every place).
pub fn status_run_sample(now: i64) -> Sample {
    Sample {
        name: "locksmith_status_last_run_timestamp_seconds",
        labels: Vec::new(),
        value: now as f64,
    }
}

/// Open break-glass entries and the last successful drill of every place
/// the journal knows (`place` `Some`: that place only).
pub fn place_statuses(
    j: &mut Journal,
    st: &Status,
    place: Option<&Place>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(Place, PlaceStatus)>, OpError> {
    let same =
        |a: &Place, b: &Place| a.engine == b.engine && a.host == b.host && a.database == b.database;
    let mut out: Vec<(Place, PlaceStatus)> = Vec::new();
    let slot = |p: &Place, out: &mut Vec<(Place, PlaceStatus)>| -> Option<usize> {
        if place.is_some_and(|want| !same(want, p)) {
            return None;
        }
        match out.iter().position(|(q, _)| same(q, p)) {
            Some(i) => Some(i),
            None => {
                out.push((p.clone(), PlaceStatus::default()));
                Some(out.len() - 1)
            }
        }
    };
    if let Some(p) = place {
        slot(p, &mut out);
    }
    for o in &st.open {
        if let Some(i) = slot(&o.place, &mut out) {
            let ps = &mut out[i].1;
            ps.open += 1;
            ps.overdue += usize::from(o.overdue);
            ps.oldest_open_seconds = ps.oldest_open_seconds.max(o.open_seconds);
        }
    }
    for (p, at) in successful_drills(j)? {
        let age = chrono::DateTime::parse_from_rfc3339(&at)
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0))
            .ok();
        if let (Some(i), Some(age)) = (slot(&p, &mut out), age) {
            let last = &mut out[i].1.last_drill_age_seconds;
            *last = Some(last.map_or(age, |l| l.min(age)));
        }
    }
    Ok(out)
}

/// Every drill whose outcome says it applied and verified the plan: its
/// place and when it started.
fn successful_drills(j: &mut Journal) -> Result<Vec<(Place, String)>, OpError> {
    let drills = j.of_kind(EntryKind::Drill).map_err(OpError::Journal)?;
    if drills.is_empty() {
        return Ok(Vec::new());
    }
    let verified: std::collections::HashSet<i64> = j
        .of_kind(EntryKind::Outcome)
        .map_err(OpError::Journal)?
        .into_iter()
        .filter(|o| o.entry.details.get("verified") == Some(&serde_json::Value::Bool(true)))
        .filter_map(|o| o.entry.refers_to)
        .collect();
    Ok(drills
        .into_iter()
        .filter(|d| verified.contains(&d.id))
        .map(|d| (d.entry.place, d.at))
        .collect())
}

/// A label value escaped as the exposition format wants: backslash, double
/// quote (U+0022) and newline.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' | '\u{22}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

fn value_text(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

/// The samples as a textfile: families in a fixed order, each with its HELP
/// and TYPE once, samples with the same name and labels kept once.
pub fn render(samples: &[Sample]) -> String {
    let mut out = String::new();
    for (name, help) in FAMILIES {
        let mut seen: Vec<&Vec<(&'static str, String)>> = Vec::new();
        let family: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == *name)
            .filter(|s| {
                let dup = seen.contains(&&s.labels);
                seen.push(&s.labels);
                !dup
            })
            .collect();
        if family.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for s in family {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let labels = match labels.is_empty() {
                true => String::new(),
                false => format!("{{{}}}", labels.join(",")),
            };
            let _ = writeln!(out, "{name}{labels} {}", value_text(s.value));
        }
    }
    out
}

/// Writes `text` to `path` atomically: a temporary file beside it (not
/// ending in `.prom`, so the collector skips it), flushed to disk, renamed.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), OpError> {
    use std::io::Write;
    let failed = |e: std::io::Error| {
        OpError::Usage(Said::key(
            "said.prom_file_unwritable",
            &[("path", &path.display()), ("reason", &e)],
        ))
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| failed(std::io::Error::other("no file name")))?;
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(e));
    }
    // The rename itself is durable once the directory is.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_families_carry_help_and_type_once() {
        let labels = Labels {
            site: "b\"j\\1\nx".into(),
            target: "db:3306/crm".into(),
            connector: "ruoyi".into(),
            profile: None,
        };
        let mut samples = posture_samples(&labels, None, 1.5, 1_700_000_000);
        samples.extend(posture_samples(&labels, None, 1.5, 1_700_000_000));
        let text = render(&samples);
        assert!(
            text.contains(r#"site="b\"j\\1\nx""#),
            "escaped label: {text}"
        );
        assert_eq!(text.matches("# TYPE locksmith_check_up gauge").count(), 1);
        assert_eq!(text.matches("locksmith_check_up{").count(), 1, "{text}");
        assert!(text.contains("locksmith_check_duration_seconds{"));
    }

    #[test]
    fn a_target_label_never_carries_the_userinfo() {
        let t = Target::parse("mysql://root:hunter2@db.example:3307/crm").unwrap();
        assert_eq!(target_label(&t), "db.example:3307/crm");
        let t = Target::parse("postgres://odoo@pg/odoo").unwrap();
        assert_eq!(target_label(&t), "pg:5432/odoo");
    }

    #[test]
    fn never_drilled_is_plus_inf() {
        let st = PlaceStatus::default();
        let text = render(&status_samples(&Labels::default(), Some(&st), false));
        assert!(text.contains("locksmith_drill_last_success_age_seconds{site=\"\",target=\"\",connector=\"\"} +Inf"), "{text}");
    }
}
