//! Consistency of outcomes: for each intent, the outcome and reconcile
//! entries that refer to it must not disagree about whether the write
//! reached the target.

use std::collections::BTreeMap;

use super::chain::parse_body;
use super::store::Row;
use super::{EntryKind, Outcome};

/// One intent whose settling entries disagree.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Contradiction {
    pub intent: i64,
    /// (entry id, "outcome" | "reconcile", outcome) of every entry that
    /// settled the intent, oldest first.
    pub entries: Vec<(i64, String, Outcome)>,
    /// Plain words naming the entries.
    pub message: String,
}

/// Whether an outcome says the write is on the target: `Some(true)` for
/// committed, `Some(false)` for rolled back, refused or failed, `None` for
/// unknown (which agrees with anything).
fn applied(o: &Outcome) -> Option<bool> {
    match o {
        Outcome::Committed => Some(true),
        Outcome::RolledBack | Outcome::Refused | Outcome::Failed => Some(false),
        Outcome::Unknown => None,
    }
}

fn name(o: &Outcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Every intent with one entry saying committed and another saying it was
/// not, in intent order. Unreadable rows are left to the chain walk.
pub(crate) fn contradictions(rows: &[Row]) -> Vec<Contradiction> {
    let mut settled: BTreeMap<i64, Vec<(i64, String, Outcome)>> = BTreeMap::new();
    for row in rows {
        let Ok(entry) = parse_body(row) else {
            continue;
        };
        let kind = match entry.kind {
            EntryKind::Outcome => "outcome",
            EntryKind::Reconcile => "reconcile",
            _ => continue,
        };
        if let (Some(intent), Some(outcome)) = (entry.refers_to, entry.outcome) {
            settled
                .entry(intent)
                .or_default()
                .push((row.id, kind.to_string(), outcome));
        }
    }
    settled
        .into_iter()
        .filter(|(_, list)| {
            let says: Vec<bool> = list.iter().filter_map(|(_, _, o)| applied(o)).collect();
            says.contains(&true) && says.contains(&false)
        })
        .map(|(intent, entries)| {
            let said: Vec<String> = entries
                .iter()
                .map(|(id, kind, o)| format!("entry #{id} ({kind}) says {}", name(o)))
                .collect();
            Contradiction {
                intent,
                message: format!(
                    "Intent #{intent} has contradicting outcomes: {}. One of them is wrong; the \
                     target row shows which (a reconcile that read the row while the write was \
                     still in flight, as locksmith did before intents were owned by their session).",
                    said.join(", ")
                ),
                entries,
            }
        })
        .collect()
}
