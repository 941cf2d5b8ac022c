//! Message catalogs: every user-facing string of the console, and the
//! operations' refusals and plan warnings ([`Said`]), live in
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

/// A message for the operator, worded by whichever shell shows it: a
/// catalog key with its arguments, or (not yet in the catalogs) English text.
#[derive(Debug, Clone, PartialEq)]
pub enum Said {
    Key {
        key: &'static str,
        args: Vec<(&'static str, String)>,
    },
    /// Text the catalogs do not have (yet): shown as it is in every language.
    Text(String),
    /// Text that comes with its own translation (a connector's note).
    Pair { en: String, zh: String },
}

impl Said {
    /// The catalog message `key` with `{name}` arguments.
    pub fn key(key: &'static str, args: &[(&'static str, &dyn std::fmt::Display)]) -> Said {
        Said::Key {
            key,
            args: args.iter().map(|(n, v)| (*n, v.to_string())).collect(),
        }
    }

    /// The message in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        self.worded(lang, None)
    }

    /// The message as the console words it: its `KEY.console` text where
    /// the catalog has one (the CLI's text names flags the console has not).
    pub fn console_text(&self, lang: Lang) -> String {
        self.worded(lang, Some(".console"))
    }

    fn worded(&self, lang: Lang, variant: Option<&str>) -> String {
        match self {
            Said::Key { key, args } => {
                let args: Vec<(&str, &str)> = args.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let key = variant
                    .map(|v| format!("{key}{v}"))
                    .filter(|k| catalog(lang).contains_key(k))
                    .unwrap_or_else(|| key.to_string());
                tf(lang, &key, &args)
            }
            Said::Text(text) => text.clone(),
            Said::Pair { en, zh } => match lang {
                Lang::Zh => zh.clone(),
                Lang::En => en.clone(),
            },
        }
    }
}

/// English: what the journal, logs and `--json` record.
impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text(Lang::En))
    }
}

impl From<String> for Said {
    fn from(text: String) -> Said {
        Said::Text(text)
    }
}

impl From<&str> for Said {
    fn from(text: &str) -> Said {
        Said::Text(text.to_string())
    }
}

impl serde::Serialize for Said {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}
