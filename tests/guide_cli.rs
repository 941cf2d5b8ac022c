//! `locksmith guide` (issue 13 §3): the recovery paths, offline, through the
//! real binary: a hosted CRM, a connector by its Chinese name, the list, and
//! the same data as JSON with English keys.

mod common;

use common::{assert_code, json, run_locksmith, stdout};

#[test]
fn guide_salesforce_shows_the_official_path_and_its_page() {
    let out = run_locksmith(&["--lang", "en", "guide", "salesforce"], None);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.starts_with("Salesforce (salesforce)"), "{text}");
    assert!(text.contains("letterhead"), "{text}");
    assert!(
        text.contains("https://login.salesforce.com/forgot"),
        "{text}"
    );
    // The common spelling finds the same entry.
    let sfdc = run_locksmith(&["--lang", "en", "guide", "SFDC"], None);
    assert_eq!(stdout(&sfdc), text);
}

#[test]
fn guide_by_a_chinese_name_in_chinese() {
    let out = run_locksmith(&["--lang", "zh", "guide", "用友"], None);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.starts_with("Yonyou U8 (用友U8) (u8)"), "{text}");
    assert!(text.contains("使用 Locksmith"), "{text}");
    assert!(text.contains("--connector u8"), "{text}");
    assert!(text.contains("闭源格式"), "{text}");
    let out = run_locksmith(&["--lang", "zh", "guide", "纷享销客"], None);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("https://www.fxiaoke.com/account/forget"));
    // A family name shows each of its systems.
    let out = run_locksmith(&["--lang", "en", "guide", "金蝶"], None);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("(kingdee-k3wise)") && text.contains("(kingdee-k3cloud)"),
        "{text}"
    );
}

#[test]
fn guide_without_a_name_lists_every_system_and_json_has_english_keys() {
    let out = run_locksmith(&["--lang", "en", "guide"], None);
    assert_code(&out, 0);
    let text = stdout(&out);
    for name in [
        "salesforce",
        "hubspot",
        "zoho-crm",
        "dynamics-365",
        "fxiaoke",
        "xiaoshouyi",
        "u8",
        "dynamics-crm",
    ] {
        assert!(text.contains(name), "{name}: {text}");
    }
    let out = run_locksmith(&["--json", "guide"], None);
    assert_code(&out, 0);
    let doc = json(&out);
    assert!(
        doc["guides"].as_array().is_some_and(|g| g.len() >= 20),
        "{doc}"
    );
    let out = run_locksmith(&["--json", "--lang", "zh", "guide", "hubspot"], None);
    assert_code(&out, 0);
    let doc = json(&out);
    let g = &doc["guides"][0];
    assert_eq!(doc["lang"], "zh");
    assert_eq!(g["name"], "hubspot");
    assert_eq!(g["url"], "https://app.hubspot.com/forgot-password");
    assert!(
        g["steps"][0].as_str().unwrap().contains("超级管理员"),
        "{doc}"
    );
}

#[test]
fn an_unknown_name_is_refused_with_the_list() {
    let out = run_locksmith(&["--lang", "en", "guide", "nosuchcrm"], None);
    assert_code(&out, 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("salesforce") && err.contains("u8"), "{err}");
}
