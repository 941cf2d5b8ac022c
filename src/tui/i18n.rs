//! Message catalogs: every user-facing string of the console lives in
//! `i18n/en.toml` and `i18n/zh.toml` (flat `key = "text"` maps, `{name}`
//! placeholders). A missing key renders as the key itself, never a panic;
//! tests make sure both catalogs have the same keys.

use std::collections::BTreeMap;
use std::sync::OnceLock;

pub const EN: &str = include_str!("i18n/en.toml");
pub const ZH: &str = include_str!("i18n/zh.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// `--lang` wins; then LC_ALL, LC_MESSAGES, LANG (the first one set): zh* is Chinese.
    pub fn detect(flag: Option<&str>) -> Lang {
        if let Some(l) = flag {
            return Lang::parse(l);
        }
        for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(v) = std::env::var(var)
                && !v.is_empty()
            {
                return Lang::parse(&v);
            }
        }
        Lang::En
    }

    pub fn parse(s: &str) -> Lang {
        if s.to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

/// Parses one catalog; a broken catalog is empty (keys show through) rather than a crash.
pub fn parse_catalog(text: &str) -> BTreeMap<String, String> {
    toml::from_str::<BTreeMap<String, String>>(text).unwrap_or_default()
}

fn catalog(lang: Lang) -> &'static BTreeMap<String, String> {
    static EN_MAP: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    static ZH_MAP: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    match lang {
        Lang::En => EN_MAP.get_or_init(|| parse_catalog(EN)),
        Lang::Zh => ZH_MAP.get_or_init(|| parse_catalog(ZH)),
    }
}

/// The text for `key` in `lang`.
pub fn t(lang: Lang, key: &str) -> String {
    catalog(lang)
        .get(key)
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

/// The text for `key`, or `fallback` when the catalog has none (names that
/// come from data, such as a connector's column roles).
pub fn t_or(lang: Lang, key: &str, fallback: &str) -> String {
    catalog(lang)
        .get(key)
        .cloned()
        .unwrap_or_else(|| fallback.to_string())
}

/// The text for `key` with `{name}` placeholders filled.
pub fn tf(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = t(lang, key);
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// `tf` with owned values (catalog refusals carry their arguments).
pub fn tf_owned(lang: Lang, key: &str, args: &[(&'static str, String)]) -> String {
    let borrowed: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tf(lang, key, &borrowed)
}
