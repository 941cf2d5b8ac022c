//! Text and JSON renderers of the CLI: pure functions from results to a `Report`.

use std::path::Path;

use serde_json::json;

use super::Report;
use crate::connector::{self, Connector};
use crate::ops::account::AccountSummary;
use crate::ops::check::CheckReport;
use crate::ops::drill::DrillReport;
use crate::ops::plan::PlanView;
use crate::ops::protocol::{Applied, Calibration};
use crate::ops::write::Prepared;
use crate::ops::{LookupPage, Session, posture};
use crate::schemes;

/// Pads or truncates to `cells` terminal cells: CJK characters take two.
pub fn pad(text: &str, cells: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w > cells {
            break;
        }
        out.push(ch);
        used += w;
    }
    out.push_str(&" ".repeat(cells - used));
    out
}

/// Pads to at least `cells` terminal cells without cutting (CJK takes two).
pub fn pad_wide(text: &str, cells: usize) -> String {
    let used = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(cells.saturating_sub(used)))
}

pub fn warnings_text(ws: &[String]) -> String {
    ws.iter().map(|w| format!("warning: {w}\n")).collect()
}

fn notes_text(notes: &[String]) -> String {
    notes.iter().map(|n| format!("note: {n}\n")).collect()
}

pub fn lookup(s: &Session, page: &LookupPage, offset: u64) -> Report {
    let mut text = warnings_text(&s.warnings);
    text.push_str(&format!(
        "{} {} {} {:<7} {:<10} {}\n",
        pad("ID", 12),
        pad("LOGIN", 20),
        pad("NAME", 16),
        "ADMIN",
        "STATE",
        "SCHEME"
    ));
    let mut rows = Vec::new();
    for a in &page.accounts {
        let st = a.state(&s.connector);
        let shape = a.shape_ok(s);
        text.push_str(&format!(
            "{} {} {} {:<7} {:<10} {}\n",
            pad(&a.id_text(), 12),
            pad(&a.login, 20),
            pad(&a.text("display").unwrap_or_default(), 16),
            if a.is_admin { "admin" } else { "" },
            st.word(),
            if shape { "ok" } else { "other-format" }
        ));
        rows.push(json!({
            "id": a.id_text(), "login": a.login, "display": a.text("display"),
            "email": a.text("email"), "phone": a.text("phone"), "admin": a.is_admin,
            "enabled": st.enabled, "deleted": st.deleted, "locked": st.locked,
            "scheme_shape": shape,
        }));
    }
    let more = match page.more {
        true => format!(
            "; more with --offset {}",
            offset + page.accounts.len() as u64
        ),
        false => String::new(),
    };
    text.push_str(&format!("{} account(s){more}\n", page.accounts.len()));
    let notes: Vec<String> = page.notes.iter().map(|n| n.text()).collect();
    text.push_str(&notes_text(&notes));
    let json = json!({
        "connector": s.connector.name, "accounts": rows, "more": page.more,
        "notes": notes, "warnings": s.warnings,
    });
    Report::ok(text, json)
}

/// `show`; the connector's notes in Chinese when `zh` (JSON keeps both).
pub fn show(s: &Session, a: &AccountSummary, zh: bool) -> Report {
    let mut text = warnings_text(&s.warnings);
    text.push_str(&format!("{} — {}\n", a.label, s.connector.title));
    let mut fields = serde_json::Map::new();
    for f in &a.fields {
        text.push_str(&format!("  {:<17} {:<18} {}\n", f.role, f.column, f.value));
        fields.insert(
            f.role.clone(),
            json!({ "column": f.column, "value": f.value }),
        );
    }
    let st = &a.state;
    text.push_str(&format!(
        "  admin: {}   enabled: {}   deleted: {}   locked: {}\n",
        a.admin,
        st.enabled.map_or("n/a".into(), |b| b.to_string()),
        st.deleted,
        st.locked
            .map_or("not in the database".into(), |b| b.to_string())
    ));
    let detected = match a.detected.is_empty() {
        true => "unknown".to_string(),
        false => a.detected.join(", "),
    };
    let shape = match a.scheme_shape {
        true => "shape matches",
        false => "shape does NOT match",
    };
    text.push_str(&format!(
        "  scheme: {} ({shape})\n  stored value looks like: {detected}\n",
        a.scheme
    ));
    if let Some(o) = &a.older_format {
        text.push_str(&format!(
            "  older format: {o} (still accepted by the vendor; a reset replaces it)\n"
        ));
    }
    let notes = match zh && !a.notes_zh.is_empty() {
        true => &a.notes_zh,
        false => &a.notes,
    };
    text.push_str(&notes_text(notes));
    let json = json!({
        "notes_zh": a.notes_zh,
        "older_format": a.older_format, "account": a.label, "id": a.id, "login": a.login,
        "fields": fields, "admin": a.admin, "state": a.state, "scheme": a.scheme,
        "scheme_shape": a.scheme_shape, "detected": a.detected, "notes": a.notes,
        "warnings": s.warnings,
    });
    Report::ok(text, json)
}

/// The plan as the operator reads it before confirming.
pub fn plan(v: &PlanView) -> String {
    let mut t = format!(
        "Plan: {} {} in `{}` ({})\n",
        v.action.name(),
        v.account,
        v.table,
        v.scheme
    );
    if v.statements.len() > 1 {
        for (i, st) in v.statements.iter().enumerate() {
            t.push_str(&format!("  SQL {} ({}): {}\n", i + 1, st.purpose, st.sql));
        }
    } else {
        t.push_str(&format!("  SQL: {}\n", v.sql));
    }
    for c in &v.changes {
        t.push_str(&format!(
            "  {:<18} {}  ->  {}\n",
            c.column, c.before, c.after
        ));
    }
    t.push_str(&format!(
        "  guarded by: primary key + {}\n",
        v.guarded.join(", ")
    ));

    for w in &v.warnings {
        t.push_str(&format!("  warning: {w}\n"));
    }
    t
}

/// Warnings, reconcile notes, the emergency admin's problems and the plan.
pub fn prepared(s: &Session, p: &Prepared) -> String {
    let mut text = warnings_text(&s.warnings);
    text.push_str(&notes_text(&p.notes));
    if let Some(diag) = &p.diagnosis {
        text.push_str(&format!("Emergency admin: {}\n", diag.label()));
        if diag.healthy() {
            text.push_str("  nothing is wrong with the row; the plan resets its password\n");
        }
        for pr in &diag.problems {
            text.push_str(&format!("  wrong: {} — {}\n", pr.code, pr.message));
        }
    }
    text.push_str(&plan(&p.view));
    text
}

fn plan_json(p: &Prepared) -> serde_json::Value {
    let mut json = json!({ "plan": p.view, "applied": false, "notes": p.notes,
        "method": p.plan.method(), "backup": p.plan.backup() });
    if p.diagnosis.is_some() {
        json["problems"] = json!(p.problems());
    }
    json
}

/// A plan that was not applied: nothing to change, or a dry run.
pub fn not_applied(mut text: String, p: &Prepared, dry_run: bool) -> Report {
    let mut json = plan_json(p);
    if p.nothing_to_do() {
        text.push_str("Nothing to change.\n");
        return Report::ok(text, json);
    }
    if let Some(refusal) = &p.refused_for_real {
        text.push_str(&format!("note: a real run would be {refusal}\n"));
    }
    if dry_run {
        text.push_str("Dry run: nothing was written (not even the journal).\n");
        json["dry_run"] = json!(true);
    }
    Report::ok(text, json)
}

pub fn committed(mut text: String, p: &Prepared, applied: &Applied) -> Report {
    let action = p.plan.action;
    if p.diagnosis.is_some() {
        text.push_str(&format!(
            "restore-admin {}: committed and verified. Break-glass journal entry {} (outcome {}) stays OPEN until `locksmith audit close {} --reason …`; `locksmith status` flags it after 24 hours.\n",
            applied.account, applied.intent_entry, applied.outcome_entry, applied.intent_entry
        ));
    } else {
        text.push_str(&format!(
            "{} {}: committed and verified. Journal entries {} (intent) and {} (outcome).\n",
            action.name(),
            applied.account,
            applied.intent_entry,
            applied.outcome_entry
        ));
    }
    let mut json = json!({
        "journal_entry": applied.intent_entry,
        "outcome_entry": applied.outcome_entry,
        "account": applied.account,
        "scheme": p.plan.scheme_id,
        "verified": applied.verified,
        "plan": p.view,
        "notes": p.notes,
    });
    if p.diagnosis.is_some() {
        json["problems"] = json!(p.problems());
    } else {
        json["method"] = json!(p.plan.method());
        json["donor"] = json!(p.donor_label());
        json["backup"] = json!(p.plan.backup());
    }
    if let Some(pw) = p.shown_password() {
        let seal = match p.diagnosis.is_some() {
            true => "; seal it and rotate it after use",
            false => "",
        };
        text.push_str(&format!(
            "\nNew password (shown once, not stored anywhere{seal}):\n\n    {}\n\n",
            pw.expose()
        ));
        json["temporary_password"] = json!(pw.expose());
    }
    Report::ok(text, json)
}

pub fn calibration(c: &Calibration, warnings: &[String]) -> Report {
    let verdict = match c.matches {
        true => "yes — the format is proven on this install",
        false => "NO — the password is wrong or this install uses another format",
    };
    let mut text = format!(
        "{}{}: {} ({}) reproduces the stored value: {verdict}\n",
        warnings_text(warnings),
        c.account,
        c.scheme,
        c.level,
    );
    if c.level == schemes::Level::ThirdParty.as_str() && c.encoder_identity.is_none() {
        let key = match (c.matches, c.journal_entry) {
            (true, Some(_)) => "calibrate.third_party_ok",
            (true, None) => "calibrate.third_party_unjournaled",
            (false, _) => "calibrate.third_party_refused",
        };
        let lang = crate::tui::i18n::Lang::detect(None);
        text.push_str(&crate::tui::i18n::tf(lang, key, &[("scheme", &c.scheme)]));
        text.push('\n');
    }
    if let Some(id) = &c.encoder_identity {
        text.push_str(&match (c.matches, c.journal_entry) {
            (true, Some(e)) => format!(
                "encoder {id}: calibrated (journal entry {e}); resets with this encoder are allowed on this target\n"
            ),
            (true, None) => format!(
                "encoder {id}: matched, but the calibration could not be journaled, so resets with it stay refused\n"
            ),
            (false, _) => format!("encoder {id}: NOT calibrated; resets with it stay refused\n"),
        });
    }
    Report::checked(
        text,
        json!({ "calibration": c, "warnings": warnings }),
        c.matches,
    )
}

pub fn drill(r: &DrillReport, report: Option<&Path>, body: String) -> Report {
    let mut text = warnings_text(&r.plan.warnings);
    match report {
        Some(path) => text.push_str(&format!(
            "drill done: time to recover {:.1} ms, rolled back: {}; report written to {}\n",
            r.time_to_recover_ms,
            r.rolled_back,
            path.display()
        )),
        None => text.push_str(&body),
    }
    Report::ok(text, serde_json::to_value(r).unwrap_or_default())
}

pub fn posture(p: &posture::Posture, warnings: &[String]) -> Report {
    let mut t = warnings_text(warnings);
    for f in &p.findings {
        let level = match f.level {
            posture::Level::Ok => "ok  ",
            posture::Level::Warn => "WARN",
            posture::Level::Fail => "FAIL",
        };
        t.push_str(&format!("{level} {:<18} {}\n", f.check, f.message));
        for a in &f.accounts {
            if f.level != posture::Level::Ok {
                t.push_str(&format!("       - {a}\n"));
            }
        }
    }
    t.push_str(&format!(
        "{} account(s) checked: {}\n",
        p.accounts_checked,
        if p.ok { "posture ok" } else { "a check FAILED" }
    ));
    let json = json!({ "posture": p, "ok": p.ok, "warnings": warnings });
    Report::checked(t, json, p.ok)
}

pub fn detected(value: &str) -> Report {
    let found = schemes::detect(value);
    let mut text = String::new();
    for c in &found {
        text.push_str(&format!(
            "{:<16} {:<13} {:<28} {}\n",
            c.format,
            c.level.as_str(),
            c.detail,
            c.vendors.join(", ")
        ));
    }
    if found.is_empty() {
        text.push_str("no known format matches this value\n");
    }
    Report::ok(text, json!({ "candidates": found }))
}

pub fn connector_list(all: &[Connector]) -> Report {
    let mut text = format!(
        "{} {} {} {} SCHEME\n",
        pad_wide("NAME", 15),
        pad_wide("TITLE", 30),
        pad_wide("ENGINES", 8),
        pad_wide("LEVEL", 13)
    );
    let mut rows = Vec::new();
    for c in all {
        let (scheme, level) = c
            .scheme()
            .map(|s| (s.id(), s.level().as_str()))
            .unwrap_or_default();
        text.push_str(&format!(
            "{} {} {} {} {}\n",
            pad_wide(&c.name, 15),
            pad_wide(&c.title, 30),
            pad_wide(&c.engines.join(","), 8),
            pad_wide(level, 13),
            scheme
        ));
        rows.push(json!({ "name": c.name, "title": c.title, "engines": c.engines, "scheme": scheme, "level": level, "source": c.source, "verification": c.verification }));
    }
    Report::ok(text, json!({ "connectors": rows }))
}

/// The connector's file as shipped or as found on disk.
pub fn connector_file(c: &Connector) -> String {
    if let Some(file) = c.source.strip_prefix("embedded:") {
        for (name, text) in connector::EMBEDDED {
            if *name == file {
                return format!("# {}\n{text}", c.source);
            }
        }
    }
    std::fs::read_to_string(&c.source)
        .unwrap_or_else(|e| format!("cannot read {}: {e}\n", c.source))
}

pub fn connector_checks(reports: &[CheckReport]) -> Report {
    let mut text = String::new();
    for r in reports {
        if r.ok() {
            text.push_str(&format!(
                "{} ({}): ok on table `{}`\n",
                r.connector, r.file, r.table
            ));
        }
        for p in &r.problems {
            text.push_str(&format!("{}: {}: {}\n", r.file, p.key, p.message));
        }
    }
    let ok = reports.iter().all(|r| r.ok());
    Report::checked(text, json!({ "reports": reports, "ok": ok }), ok)
}
