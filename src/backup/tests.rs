use super::{BackupError, Flavor, TableQuery, scan_bytes};

fn users(id: &str, login: &str) -> Vec<TableQuery> {
    vec![TableQuery {
        table: "sys_user".into(),
        matches: vec![
            ("user_id".into(), id.into()),
            ("login_name".into(), login.into()),
        ],
    }]
}

const HEAD: &str =
    "-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n--\n/*!40101 SET NAMES utf8mb4 */;\n";

const TABLE: &str = "CREATE TABLE `sys_user` (\n  `user_id` bigint NOT NULL,\n  `login_name` varchar(30) NOT NULL,\n  `password` varchar(50) DEFAULT '',\n  PRIMARY KEY (`user_id`)\n) ENGINE=InnoDB;\n";

fn rows(text: &str, db: Option<&str>, id: &str) -> Vec<Vec<Option<String>>> {
    let s = scan_bytes(text.as_bytes(), db, &users(id, "nobody")).expect("scan");
    s.tables[0].rows.clone()
}

#[test]
fn extended_and_single_row_inserts_with_escapes() {
    let text = format!(
        "{HEAD}{TABLE}INSERT INTO `sys_user` VALUES (1,'admin','a\\'b\\\\c\\n'),(2,'ry',NULL);\nINSERT INTO `sys_user` VALUES (3,_binary 'x''y',0x414243);\n-- Dump completed on 2026-11-30 23:00:01\n"
    );
    let r = rows(&text, None, "1");
    assert_eq!(
        r,
        vec![vec![
            Some("1".into()),
            Some("admin".into()),
            Some("a'b\\c\n".into())
        ]]
    );
    let r = rows(&text, None, "3");
    assert_eq!(r[0][1].as_deref(), Some("x'y"));
    assert_eq!(r[0][2].as_deref(), Some("ABC"));
    let s = scan_bytes(text.as_bytes(), None, &users("2", "")).unwrap();
    assert_eq!(s.dumped_at.as_deref(), Some("2026-11-30 23:00:01"));
    assert_eq!(s.flavor, Flavor::MySql);
    assert_eq!(s.tables[0].rows[0][2], None);
}

#[test]
fn complete_inserts_name_their_columns_and_the_login_matches_too() {
    let text = format!(
        "{HEAD}INSERT INTO `sys_user` (`password`, `user_id`, `login_name`) VALUES ('h',7,'admin');\n"
    );
    let s = scan_bytes(text.as_bytes(), None, &users("1", "admin")).unwrap();
    let t = &s.tables[0];
    assert_eq!(t.columns, vec!["password", "user_id", "login_name"]);
    assert_eq!(t.value(&t.rows[0], "user_id"), Some(&Some("7".to_string())));
}

#[test]
fn only_the_live_databases_section_counts() {
    let text = format!(
        "{HEAD}USE `other`;\n{TABLE}INSERT INTO `sys_user` VALUES (1,'admin','other');\nUSE `crm`;\n{TABLE}INSERT INTO `sys_user` VALUES (1,'admin','ours');\n"
    );
    let s = scan_bytes(text.as_bytes(), Some("crm"), &users("1", "")).unwrap();
    assert_eq!(s.databases, vec!["other", "crm"]);
    assert_eq!(s.tables[0].rows.len(), 1);
    assert_eq!(s.tables[0].rows[0][2].as_deref(), Some("ours"));
    let s = scan_bytes(text.as_bytes(), Some("third"), &users("1", "")).unwrap();
    assert!(!s.tables[0].seen);
}

#[test]
fn a_gbk_dump_is_decoded() {
    let mut bytes = HEAD.replace("utf8mb4", "gbk").into_bytes();
    bytes.extend_from_slice(TABLE.as_bytes());
    bytes.extend_from_slice(b"INSERT INTO `sys_user` VALUES (1,'");
    bytes.extend_from_slice(&[0xd5, 0xc5, 0xc8, 0xfd]); // 张三 in GBK
    bytes.extend_from_slice(b"','h');\n");
    let s = scan_bytes(&bytes, None, &users("1", "")).unwrap();
    assert_eq!(s.tables[0].rows[0][1].as_deref(), Some("张三"));
}

#[test]
fn pg_dump_copy_and_inserts() {
    let head = "--\n-- PostgreSQL database dump\n--\nSET client_encoding = 'UTF8';\n";
    let create = "CREATE TABLE public.res_users (\n    id integer NOT NULL,\n    login character varying NOT NULL,\n    password character varying\n);\n";
    let q = vec![TableQuery {
        table: "res_users".into(),
        matches: vec![("id".into(), "2".into())],
    }];
    let copy = format!(
        "{head}{create}COPY public.res_users (id, login, password) FROM stdin;\n1\t__system__\t\\N\n2\tadmin\t$pbkdf2\\tx\\\\y\n\\.\n"
    );
    let s = scan_bytes(copy.as_bytes(), None, &q).unwrap();
    assert_eq!(s.flavor, Flavor::Postgres);
    assert_eq!(s.tables[0].rows[0][2].as_deref(), Some("$pbkdf2\tx\\y"));
    let inserts = format!(
        "{head}{create}INSERT INTO public.res_users VALUES (1, '__system__', NULL);\nINSERT INTO public.res_users VALUES (2, 'ad''min', 'multi\nline\\');\n"
    );
    let s = scan_bytes(inserts.as_bytes(), None, &q).unwrap();
    assert_eq!(s.tables[0].rows[0][1].as_deref(), Some("ad'min"));
    assert_eq!(s.tables[0].rows[0][2].as_deref(), Some("multi\nline\\"));
}

fn syntax(text: &str) -> String {
    match scan_bytes(text.as_bytes(), None, &users("1", "")) {
        Err(e @ BackupError::Syntax { .. }) => e.to_string(),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let e = syntax(&format!(
        "{HEAD}{TABLE}INSERT INTO `sys_user` VALUES (1,'admin','open"
    ));
    assert!(e.contains("never closed"), "{e}");
    let e = syntax(&format!(
        "{HEAD}{TABLE}INSERT INTO `sys_user` VALUES (1,'admin');\n"
    ));
    assert!(
        e.contains("has 2 values but its header has 3 columns"),
        "{e}"
    );
    let e = syntax(&format!(
        "{HEAD}INSERT INTO `sys_user` VALUES (1,'admin','h');\n"
    ));
    assert!(e.contains("before its column list"), "{e}");
    assert!(matches!(
        scan_bytes(b"SELECT 1;\n", None, &users("1", "")),
        Err(BackupError::NotADump)
    ));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, format!("{HEAD}{TABLE}").repeat(50).as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let cut = &bytes[..bytes.len() - 12];
    assert!(matches!(
        scan_bytes(cut, None, &users("1", "")),
        Err(BackupError::Gzip(_))
    ));
}

/// Found by the fuzzer: a table defined again after rows were kept under its
/// first column list would misalign those rows.
#[test]
fn a_table_defined_again_after_its_rows_is_refused() {
    let e = syntax(&format!(
        "{HEAD}{TABLE}INSERT INTO `sys_user` VALUES (1,'admin','h');\nCREATE TABLE `sys_user` (\n  `user_id` int\n);\n"
    ));
    assert!(e.contains("appears again with other columns"), "{e}");
}
