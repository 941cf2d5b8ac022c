//! Renderers of `offboard` (and `offboard --undo`): the summary before the
//! one confirmation, and the batch's report. Text from the catalogs; the
//! JSON document carries every entry.

use serde_json::json;

use super::Report;
use super::render::pad;
use crate::i18n::{Lang, t, tf};
use crate::ops::offboard::{Class, RunReport, Summary, UndoSummary};

/// Entries listed one by one in the text (all of them in `--json`).
const SHOWN: usize = 200;

/// The exit code of a batch with failures: a write was refused.
const EXIT_SOME_FAILED: i32 = 5;

fn class_word(lang: Lang, class: &str) -> String {
    t(lang, &format!("offboard.class.{class}"))
}

pub fn offboard_summary(s: &Summary, lang: Lang) -> String {
    let mut out = String::new();
    for note in &s.notes {
        out.push_str(&format!("{note}\n"));
    }
    let by = s.match_by.name();
    out.push_str(&tf(
        lang,
        "offboard.header",
        &[
            ("batch", &s.batch),
            ("file", &s.file),
            ("format", s.format),
            ("encoding", s.encoding),
            ("match", by),
        ],
    ));
    out.push('\n');
    for class in Class::ALL {
        let n = s.counts.get(class.name()).copied().unwrap_or(0);
        out.push_str(&format!(
            "  {} {n:>6}\n",
            pad(&class_word(lang, class.name()), 24)
        ));
    }
    let enabled = s.enabled_admins.to_string();
    let flagged = s.admins.len().to_string();
    out.push_str(&tf(
        lang,
        "offboard.admins",
        &[("enabled", &enabled), ("flagged", &flagged)],
    ));
    out.push('\n');
    for l in s
        .listed
        .iter()
        .filter(|l| l.class != Class::WouldDisable || l.admin)
        .take(SHOWN)
    {
        let who = l
            .account
            .clone()
            .unwrap_or_else(|| l.candidates.join(" | "));
        let admin = if l.admin {
            t(lang, "offboard.admin_flag")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {:>5} {} {} {} {admin}\n",
            l.line,
            pad(&l.key, 22),
            pad(&class_word(lang, l.class.name()), 18),
            who
        ));
    }
    if let Some(w) = &s.sessions {
        out.push_str(&format!(
            "{} {}\n",
            t(lang, "offboard.warning"),
            w.text(lang)
        ));
    }
    out
}

fn summary_json(s: &Summary) -> serde_json::Value {
    json!({ "summary": s })
}

pub fn offboard_not_run(mut text: String, s: &Summary, dry_run: bool, lang: Lang) -> Report {
    let mut doc = summary_json(s);
    let key = match (dry_run, s.to_disable()) {
        (true, _) => "offboard.dry_run",
        (false, 0) => "offboard.nothing_to_do",
        (false, _) => "offboard.no_journal",
    };
    text.push_str(&t(lang, key));
    text.push('\n');
    doc["dry_run"] = json!(dry_run);
    Report::ok(text, doc)
}

fn report_text(text: &mut String, r: &RunReport, lang: Lang) {
    for item in r.items.iter().filter(|i| i.result == "failed") {
        text.push_str(&tf(
            lang,
            "offboard.failed_one",
            &[
                ("account", &item.account),
                ("error", item.error.as_deref().unwrap_or_default()),
            ],
        ));
        text.push('\n');
    }
    let skipped = r.items.iter().filter(|i| i.result == "skipped").count();
    if skipped > 0 {
        let n = skipped.to_string();
        text.push_str(&tf(lang, "offboard.skipped", &[("count", &n)]));
        text.push('\n');
    }
}

fn run_report(text: String, doc: serde_json::Value, r: &RunReport) -> Report {
    Report {
        text,
        json: doc,
        code: if r.failed > 0 { EXIT_SOME_FAILED } else { 0 },
    }
}

pub fn offboard_done(
    mut text: String,
    s: &Summary,
    r: &RunReport,
    reason: &str,
    lang: Lang,
) -> Report {
    report_text(&mut text, r, lang);
    let (written, total, seconds) = (
        r.written.to_string(),
        s.to_disable().to_string(),
        format!("{:.1}", r.seconds),
    );
    text.push_str(&tf(
        lang,
        "offboard.done",
        &[
            ("written", &written),
            ("total", &total),
            ("seconds", &seconds),
            ("batch", &r.batch),
        ],
    ));
    text.push('\n');
    text.push_str(&tf(
        lang,
        "offboard.undo_hint",
        &[("batch", &r.batch), ("reason", reason)],
    ));
    text.push('\n');
    let mut doc = summary_json(s);
    doc["result"] = json!(r);
    run_report(text, doc, r)
}

pub fn undo_summary(s: &UndoSummary, lang: Lang) -> String {
    let mut out = String::new();
    for note in &s.notes {
        out.push_str(&format!("{note}\n"));
    }
    out.push_str(&tf(lang, "offboard.undo_header", &[("batch", &s.batch)]));
    out.push('\n');
    for (class, n) in &s.counts {
        out.push_str(&format!("  {} {n:>6}\n", pad(&class_word(lang, class), 24)));
    }
    for l in s
        .listed
        .iter()
        .filter(|l| l.class != "would_enable")
        .take(SHOWN)
    {
        out.push_str(&format!(
            "  {} {}\n",
            pad(&class_word(lang, l.class), 18),
            l.account
        ));
    }
    out
}

pub fn undo_not_run(mut text: String, s: &UndoSummary, dry_run: bool, lang: Lang) -> Report {
    let key = match dry_run {
        true => "offboard.dry_run",
        false => "offboard.nothing_to_undo",
    };
    text.push_str(&t(lang, key));
    text.push('\n');
    Report::ok(text, json!({ "undo": s, "dry_run": dry_run }))
}

pub fn undo_done(mut text: String, s: &UndoSummary, r: &RunReport, lang: Lang) -> Report {
    report_text(&mut text, r, lang);
    let (written, total, seconds) = (
        r.written.to_string(),
        s.to_enable().to_string(),
        format!("{:.1}", r.seconds),
    );
    text.push_str(&tf(
        lang,
        "offboard.undone",
        &[
            ("written", &written),
            ("total", &total),
            ("seconds", &seconds),
            ("batch", &s.batch),
        ],
    ));
    text.push('\n');
    run_report(text, json!({ "undo": s, "result": r }), r)
}
