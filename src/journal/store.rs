//! The SQLite layout of the journal and the diesel types that map it.

use diesel::prelude::*;

/// Bumped whenever the layout or the hash encoding changes.
pub(crate) const SCHEMA_VERSION: &str = "1";

/// Created at every open; `IF NOT EXISTS` makes it idempotent.
pub(crate) const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    refers_to INTEGER,
    action    TEXT NOT NULL,
    account   TEXT,
    body      TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_refers_to ON entries (refers_to);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
";

diesel::table! {
    entries (id) {
        id -> BigInt,
        at -> Text,
        kind -> Text,
        refers_to -> Nullable<BigInt>,
        action -> Text,
        account -> Nullable<Text>,
        body -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    meta (key) {
        key -> Text,
        value -> Text,
    }
}

/// One stored row, exactly as it is on disk (nothing trusted yet).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = entries, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct Row {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub refers_to: Option<i64>,
    pub action: String,
    pub account: Option<String>,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}
