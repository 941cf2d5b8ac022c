//! Any dump, however malformed (truncated, corrupt gzip, unterminated strings,
//! short rows), is scanned to a row set or a clear error, without a panic, and
//! never keeps a row that does not match the query.
#![no_main]
use libfuzzer_sys::fuzz_target;
use locksmith::backup::{TableQuery, scan_bytes};

fuzz_target!(|data: &[u8]| {
    let queries = [
        TableQuery {
            table: "sys_user".into(),
            matches: vec![
                ("user_id".into(), "1".into()),
                ("login_name".into(), "admin".into()),
            ],
        },
        TableQuery {
            table: "res_users".into(),
            matches: vec![("id".into(), "2".into())],
        },
    ];
    if let Ok(scanned) = scan_bytes(data, Some("crm"), &queries) {
        for (q, found) in queries.iter().zip(&scanned.tables) {
            for row in &found.rows {
                assert_eq!(row.len(), found.columns.len());
                let matched = q.matches.iter().any(|(col, want)| {
                    found
                        .value(row, col)
                        .is_some_and(|v| v.as_deref() == Some(want.as_str()))
                });
                assert!(matched, "a kept row matches no query");
            }
        }
    }
});
