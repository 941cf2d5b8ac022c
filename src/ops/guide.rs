//! `locksmith guide [NAME]`: the way back in for each system, offline. The
//! data lives once, in guides.toml (compiled in): hosted CRMs with the
//! vendor's official path and page, and every connector with the Locksmith
//! command that helps and what it cannot do, each in English and Chinese.

use serde::{Deserialize, Serialize};

use super::OpError;

/// The guides, compiled into the binary.
pub const GUIDES: &str = include_str!("guides.toml");

/// One system's entry as stored (both languages).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuideEntry {
    pub name: String,
    /// "saas" (hosted: the vendor's path) or "connector" (a Locksmith connector of that name).
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    /// The Locksmith command that gets you back in (connectors).
    #[serde(default)]
    pub command: Option<String>,
    pub steps_en: Vec<String>,
    pub steps_zh: Vec<String>,
    pub limits_en: Vec<String>,
    pub limits_zh: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuideFile {
    guide: Vec<GuideEntry>,
}

/// One entry in the operator's language: what `guide NAME` shows and `--json` prints.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Guide {
    pub name: String,
    pub kind: String,
    pub title: String,
    pub aliases: Vec<String>,
    pub url: Option<String>,
    pub source: Option<String>,
    pub command: Option<String>,
    pub steps: Vec<String>,
    pub limits: Vec<String>,
}

impl GuideEntry {
    pub fn in_lang(&self, zh: bool) -> Guide {
        let (steps, limits) = match zh {
            true => (&self.steps_zh, &self.limits_zh),
            false => (&self.steps_en, &self.limits_en),
        };
        Guide {
            name: self.name.clone(),
            kind: self.kind.clone(),
            title: self.title.clone(),
            aliases: self.aliases.clone(),
            url: self.url.clone(),
            source: self.source.clone(),
            command: self.command.clone(),
            steps: steps.clone(),
            limits: limits.clone(),
        }
    }

    /// Whether `query` names this entry: its name, title or an alias, ignoring
    /// case, spaces, '-' and '_' (`Zoho CRM`, `zoho-crm`, `ZOHOCRM`).
    fn answers_to(&self, query: &str) -> bool {
        let q = fold(query);
        !q.is_empty()
            && std::iter::once(&self.name)
                .chain(std::iter::once(&self.title))
                .chain(&self.aliases)
                .any(|n| fold(n) == q)
    }

    fn check(&self) -> Result<(), String> {
        let n = &self.name;
        if !matches!(self.kind.as_str(), "saas" | "connector") {
            return Err(format!("{n}: kind must be \"saas\" or \"connector\""));
        }
        if self.steps_en.is_empty() || self.steps_en.len() != self.steps_zh.len() {
            return Err(format!("{n}: steps_en and steps_zh, one for one"));
        }
        if self.limits_en.len() != self.limits_zh.len() {
            return Err(format!("{n}: limits_en and limits_zh, one for one"));
        }
        if self.kind == "saas" && self.url.is_none() {
            return Err(format!(
                "{n}: a hosted CRM's entry names its recovery page (url)"
            ));
        }
        if self.kind == "connector" && self.command.is_none() {
            return Err(format!("{n}: a connector's entry names its command"));
        }
        Ok(())
    }
}

/// Lower case without spaces, '-' and '_'.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every guide, validated (names unique, both languages complete).
pub fn all() -> Result<Vec<GuideEntry>, OpError> {
    let file: GuideFile = toml::from_str(GUIDES)
        .map_err(|e| OpError::Usage(format!("internal: guides.toml: {}", e.message()).into()))?;
    let mut seen = std::collections::BTreeSet::new();
    for g in &file.guide {
        g.check()
            .map_err(|m| OpError::Usage(format!("internal: guides.toml: {m}").into()))?;
        if !seen.insert(fold(&g.name)) {
            return Err(OpError::Usage(
                format!("internal: guides.toml: `{}` twice", g.name).into(),
            ));
        }
    }
    Ok(file.guide)
}

/// The entries `query` names: one, or several for a family name (`金蝶`,
/// `kingdee`, `dynamics`). None is an error listing what there is.
pub fn find(query: &str) -> Result<Vec<GuideEntry>, OpError> {
    let all = all()?;
    let found: Vec<GuideEntry> = all
        .iter()
        .filter(|g| g.answers_to(query))
        .cloned()
        .collect();
    if found.is_empty() {
        let names: Vec<&str> = all.iter().map(|g| g.name.as_str()).collect();
        return Err(OpError::NotFound(
            format!("no guide for `{query}`; guides: {}", names.join(", ")).into(),
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_parse_and_every_entry_has_both_languages() {
        let all = all().expect("guides.toml is valid");
        assert!(all.len() >= 6);
        for g in &all {
            assert!(g.check().is_ok(), "{}", g.name);
            for text in g.steps_zh.iter().chain(&g.limits_zh) {
                assert!(!text.is_empty(), "{}", g.name);
            }
        }
    }

    #[test]
    fn common_spellings_find_their_system() {
        for (query, name) in [
            ("salesforce", "salesforce"),
            ("SFDC", "salesforce"),
            ("纷享销客", "fxiaoke"),
            ("fxiaoke", "fxiaoke"),
            ("Zoho CRM", "zoho-crm"),
            ("销售易", "xiaoshouyi"),
            ("u8", "u8"),
            ("用友", "u8"),
            ("hubspot", "hubspot"),
        ] {
            let found = find(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            assert_eq!(found.len(), 1, "{query}");
            assert_eq!(found[0].name, name, "{query}");
        }
        let kingdee: Vec<String> = find("金蝶").unwrap().into_iter().map(|g| g.name).collect();
        assert_eq!(kingdee, ["kingdee-k3wise", "kingdee-k3cloud"]);
        assert_eq!(find("Kingdee").unwrap().len(), 2);
        let err = find("nosuchcrm").unwrap_err().to_string();
        assert!(err.contains("salesforce"), "{err}");
    }

    #[test]
    fn the_seeds_saas_crms_carry_their_recovery_page() {
        for name in [
            "salesforce",
            "hubspot",
            "zoho-crm",
            "dynamics-365",
            "fxiaoke",
            "xiaoshouyi",
        ] {
            let g = find(name).unwrap().remove(0);
            assert_eq!(g.kind, "saas");
            assert!(
                g.url.as_deref().is_some_and(|u| u.starts_with("https://")),
                "{name}"
            );
        }
    }

    /// Every connector file shipped in connectors/ (the directory, so a new
    /// file is caught even before it is embedded) has its guide entry.
    #[test]
    fn every_shipped_connector_has_a_guide_entry() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors");
        let guides = all().unwrap();
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let c = crate::connector::Connector::parse(&path.display().to_string(), &text)
                .unwrap_or_else(|e| panic!("{e}"));
            let g = guides.iter().find(|g| g.name == c.name).unwrap_or_else(|| {
                panic!("connector `{}` has no entry in src/ops/guides.toml", c.name)
            });
            assert_eq!(g.kind, "connector", "{}", c.name);
            checked += 1;
        }
        assert!(checked >= 13, "{checked}");
    }
}
