//! Text and JSON renderers of the CLI: pure functions from results to a `Report`.

use std::path::Path;

use serde_json::json;

use super::Report;
use crate::connector::{self, Connector};
use crate::i18n::{Lang, t, tf};
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

/// `word` as the shell reads it back: quoted when it holds anything but
/// plain characters.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || ":=._-@".contains(c);
    match word.chars().all(plain) {
        true => word.to_string(),
        false => format!("'{}'", word.replace('\'', "'\\''")),
    }
}

fn notes_text(notes: &[String]) -> String {
    notes.iter().map(|n| format!("note: {n}\n")).collect()
}

pub fn lookup(s: &Session, page: &LookupPage, lang: Lang) -> Report {
    let mut text = warnings_text(&s.warnings);
    text.push_str(&format!(
        "{} {} {} {} {} {}\n",
        pad("ID", 12),
        pad(&t(lang, "cli.col_login"), 20),
        pad(&t(lang, "cli.col_name"), 16),
        pad(&t(lang, "cli.col_admin"), 7),
        pad(&t(lang, "cli.col_state"), 10),
        t(lang, "cli.col_scheme")
    ));
    let mut rows = Vec::new();
    for a in &page.accounts {
        let st = a.state(&s.connector);
        let shape = a.shape_ok(s);
        let admin = if a.is_admin {
            t(lang, "cli.admin")
        } else {
            String::new()
        };
        let shape_word = t(
            lang,
            if shape {
                "cli.shape_ok"
            } else {
                "cli.shape_other"
            },
        );
        text.push_str(&format!(
            "{} {} {} {} {} {shape_word}\n",
            pad(&a.id_text(), 12),
            pad(&a.login, 20),
            pad(&a.text("display").unwrap_or_default(), 16),
            pad(&admin, 7),
            pad(&t(lang, &format!("state.{}", st.word())), 10),
        ));
        rows.push(json!({
            "id": a.id_text(), "login": a.login, "display": a.text("display"),
            "email": a.text("email"), "phone": a.text("phone"), "admin": a.is_admin,
            "enabled": st.enabled, "deleted": st.deleted, "locked": st.locked,
            "scheme_shape": shape,
        }));
    }
    let next = page.next.as_ref().map(|c| c.token());
    let count = page.accounts.len().to_string();
    text.push_str(&match &next {
        Some(token) => tf(
            lang,
            "cli.accounts_more",
            &[("count", &count), ("cursor", &shell_word(token))],
        ),
        None => tf(lang, "cli.accounts", &[("count", &count)]),
    });
    text.push('\n');
    let notes: Vec<String> = page.notes.iter().map(|n| n.text()).collect();
    text.push_str(&notes_text(&notes));
    let json = json!({
        "connector": s.connector.name, "accounts": rows, "more": page.more(),
        "next": next, "notes": notes, "warnings": s.warnings,
    });
    Report::ok(text, json)
}

/// `show`, worded in `lang` (JSON keeps both languages' notes).
pub fn show(s: &Session, a: &AccountSummary, lang: Lang) -> Report {
    let zh = lang == Lang::Zh;
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
    let yes_no = |b: bool| t(lang, if b { "cli.yes" } else { "cli.no" });
    let state = tf(
        lang,
        "cli.show_state",
        &[
            ("admin", &yes_no(a.admin)),
            ("enabled", &st.enabled.map_or(t(lang, "cli.n_a"), yes_no)),
            ("deleted", &yes_no(st.deleted)),
            (
                "locked",
                &st.locked.map_or(t(lang, "cli.not_in_db"), yes_no),
            ),
        ],
    );
    text.push_str(&format!("  {state}\n"));
    let detected = match a.detected.is_empty() {
        true => t(lang, "cli.unknown"),
        false => a.detected.join(", "),
    };
    let shape = t(
        lang,
        if a.scheme_shape {
            "cli.shape_matches"
        } else {
            "cli.shape_differs"
        },
    );
    let scheme = tf(
        lang,
        "cli.show_scheme",
        &[
            ("scheme", &a.scheme),
            ("shape", &shape),
            ("detected", &detected),
        ],
    );
    text.push_str(&format!("  {scheme}\n"));
    if let Some(o) = &a.older_format {
        text.push_str(&format!(
            "  {}\n",
            tf(lang, "cli.show_older", &[("older", o)])
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
pub fn plan(v: &PlanView, lang: Lang) -> String {
    let mut out = tf(
        lang,
        "cli.plan",
        &[
            ("action", v.action.name()),
            ("account", &v.account),
            ("table", &v.table),
            ("scheme", &v.scheme),
        ],
    );
    out.push('\n');
    if v.statements.len() > 1 {
        for (i, st) in v.statements.iter().enumerate() {
            out.push_str(&format!(
                "  SQL {} ({}): {}\n",
                i + 1,
                st.purpose.text(lang),
                st.sql
            ));
        }
    } else {
        out.push_str(&format!("  SQL: {}\n", v.sql));
    }
    for c in &v.changes {
        out.push_str(&format!(
            "  {:<18} {}  ->  {}\n",
            c.column, c.before, c.after
        ));
    }
    let guarded = v.guarded.join(", ");
    out.push_str(&format!(
        "  {}\n",
        tf(lang, "cli.guarded", &[("columns", &guarded)])
    ));
    for w in &v.warnings {
        out.push_str(&format!("  {} {}\n", t(lang, "cli.warning"), w.text(lang)));
    }
    out
}

/// Warnings, reconcile notes, the emergency admin's problems and the plan.
pub fn prepared(s: &Session, p: &Prepared, lang: Lang) -> String {
    let mut text = warnings_text(&s.warnings);
    text.push_str(&notes_text(&p.notes));
    if let Some(diag) = &p.diagnosis {
        text.push_str(&format!("Emergency admin: {}\n", diag.label()));
        if diag.healthy() && s.connector.keeps_password() {
            text.push_str("  nothing is wrong with the row; the plan resets its password\n");
        } else if diag.healthy() {
            text.push_str(
                "  nothing is wrong with the row (its password is in the directory, not here)\n",
            );
        }
        for pr in &diag.problems {
            text.push_str(&format!("  wrong: {} — {}\n", pr.code, pr.message));
        }
    }
    text.push_str(&plan(&p.view, lang));
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
pub fn not_applied(mut text: String, p: &Prepared, dry_run: bool, lang: Lang) -> Report {
    let mut json = plan_json(p);
    if p.nothing_to_do() {
        text.push_str(&t(lang, "cli.nothing_to_change"));
        text.push('\n');
        return Report::ok(text, json);
    }
    if let Some(refusal) = &p.refused_for_real {
        text.push_str(&tf(lang, "cli.real_run_refused", &[("why", refusal)]));
        text.push('\n');
    }
    if dry_run {
        text.push_str(&t(lang, "cli.dry_run"));
        text.push('\n');
        json["dry_run"] = json!(true);
    }
    Report::ok(text, json)
}

pub fn committed(mut text: String, p: &Prepared, applied: &Applied, lang: Lang) -> Report {
    let action = p.plan.action;
    let (intent, outcome) = (
        applied.intent_entry.to_string(),
        applied.outcome_entry.to_string(),
    );
    let key = match p.diagnosis.is_some() {
        true => "cli.committed_break_glass",
        false => "cli.committed",
    };
    text.push_str(&tf(
        lang,
        key,
        &[
            ("action", action.name()),
            ("account", &applied.account),
            ("intent", &intent),
            ("outcome", &outcome),
        ],
    ));
    text.push('\n');
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
        let key = match p.diagnosis.is_some() {
            true => "cli.new_password_seal",
            false => "cli.new_password",
        };
        text.push_str(&format!("\n{}\n\n    {}\n\n", t(lang, key), pw.expose()));
        json["temporary_password"] = json!(pw.expose());
    }
    Report::ok(text, json)
}

pub fn calibration(c: &Calibration, warnings: &[String], lang: Lang) -> Report {
    let verdict = t(
        lang,
        if c.matches {
            "cli.calibrated_yes"
        } else {
            "cli.calibrated_no"
        },
    );
    let mut text = warnings_text(warnings);
    text.push_str(&tf(
        lang,
        "cli.calibration",
        &[
            ("account", &c.account),
            ("scheme", &format!("{} ({})", c.scheme, c.level)),
            ("verdict", &verdict),
        ],
    ));
    text.push('\n');
    if c.level == schemes::Level::ThirdParty.as_str() && c.encoder_identity.is_none() {
        let key = match (c.matches, c.journal_entry) {
            (true, Some(_)) => "calibrate.third_party_ok",
            (true, None) => "calibrate.third_party_unjournaled",
            (false, _) => "calibrate.third_party_refused",
        };
        text.push_str(&tf(lang, key, &[("scheme", &c.scheme)]));
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
    let warnings: Vec<String> = r.plan.warnings.iter().map(|w| w.to_string()).collect();
    let mut text = warnings_text(&warnings);
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

/// `guide`: every system with a guide, one line each.
pub fn guide_list(all: &[crate::ops::guide::GuideEntry], lang: Lang) -> Report {
    let mut text = format!("{}\n", t(lang, "guide.list_title"));
    for g in all {
        let kind = t(lang, &format!("guide.kind.{}", g.kind));
        text.push_str(&format!(
            "  {} {} {}\n",
            pad_wide(&g.name, 16),
            pad_wide(&kind, 10),
            g.title
        ));
    }
    text.push_str(&format!("{}\n", t(lang, "guide.list_hint")));
    let items: Vec<_> = all
        .iter()
        .map(|g| json!({ "name": g.name, "kind": g.kind, "title": g.title, "aliases": g.aliases, "url": g.url }))
        .collect();
    Report::ok(text, json!({ "guides": items }))
}

/// `guide NAME`: each entry's steps, limits, command and page.
pub fn guides(found: &[crate::ops::guide::Guide], lang: Lang) -> Report {
    let mut text = String::new();
    for g in found {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("{} ({})\n", g.title, g.name));
        if let Some(cmd) = &g.command {
            text.push_str(&format!("{} {cmd}\n", t(lang, "guide.command")));
        }
        for (i, step) in g.steps.iter().enumerate() {
            text.push_str(&format!("  {}. {step}\n", i + 1));
        }
        for limit in &g.limits {
            text.push_str(&format!("{} {limit}\n", t(lang, "guide.limit")));
        }
        if let Some(url) = &g.url {
            text.push_str(&format!("{} {url}\n", t(lang, "guide.url")));
        }
        if let Some(source) = &g.source {
            text.push_str(&format!("{} {source}\n", t(lang, "guide.source")));
        }
    }
    let lang_code = if lang == Lang::Zh { "zh" } else { "en" };
    Report::ok(text, json!({ "lang": lang_code, "guides": found }))
}
