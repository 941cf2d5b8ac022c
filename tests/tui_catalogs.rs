//! Every user-facing string of the console is in both catalogs.

use std::collections::BTreeSet;

use locksmith::tui::i18n::{EN, ZH, parse_catalog};

#[test]
fn both_languages_have_exactly_the_same_keys() {
    let en: BTreeSet<String> = parse_catalog(EN).into_keys().collect();
    let zh: BTreeSet<String> = parse_catalog(ZH).into_keys().collect();
    assert!(
        en.len() > 100,
        "the English catalog did not parse: {} keys",
        en.len()
    );
    let only_en: Vec<_> = en.difference(&zh).collect();
    let only_zh: Vec<_> = zh.difference(&en).collect();
    assert!(
        only_en.is_empty() && only_zh.is_empty(),
        "only in en: {only_en:?}; only in zh: {only_zh:?}"
    );
}

#[test]
fn every_key_the_console_uses_is_in_the_catalog() {
    let en = parse_catalog(EN);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tui");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // String literals shaped like catalog keys: "group.name".
        for lit in text.split('"').skip(1).step_by(2) {
            let Some((group, name)) = lit.split_once('.') else {
                continue;
            };
            let groups = [
                "key",
                "busy",
                "notice",
                "confirm",
                "title",
                "form",
                "accounts",
                "col",
                "badge",
                "detail",
                "plan",
                "result",
                "calibrate",
                "journal",
                "help",
                "connect",
                "opaque",
                "transplant",
            ];
            if groups.contains(&group)
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && !en.contains_key(lit)
            {
                missing.push(format!("{}: {lit}", path.display()));
            }
        }
    }
    for action in ["reset", "unlock"] {
        assert!(en.contains_key(&format!("action.{action}")));
    }
    assert!(
        missing.is_empty(),
        "keys used but not in en.toml: {missing:?}"
    );
}

/// Every `Said::key("said.…")` an operation words a message with, anywhere
/// in the library, is in both catalogs; and every `said.*` entry is used
/// (a `.console` variant needs its plain key).
#[test]
fn every_operation_message_is_in_both_catalogs_and_used() {
    let en = parse_catalog(EN);
    let zh = parse_catalog(locksmith::tui::i18n::ZH);
    let mut used = std::collections::BTreeSet::new();
    let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for lit in text.split('"').skip(1).step_by(2) {
                if lit.starts_with("said.") {
                    used.insert(lit.to_string());
                }
            }
        }
    }
    assert!(used.len() >= 20, "only {} said.* keys found", used.len());
    let missing: Vec<_> = used
        .iter()
        .filter(|k| !en.contains_key(*k) || !zh.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "used but not in both catalogs: {missing:?}"
    );
    let unused: Vec<_> = en
        .keys()
        .filter(|k| k.starts_with("said."))
        .filter(|k| !used.contains(k.trim_end_matches(".console")))
        .collect();
    assert!(
        unused.is_empty(),
        "in the catalogs but never said: {unused:?}"
    );
}
