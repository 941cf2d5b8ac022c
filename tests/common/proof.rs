//! Proof that a password works, independent of Locksmith: the account's
//! stored value read with the mariadb client and checked by the Python oracle
//! (tests/oracle/oracle.py). The vendors' own verifiers are in vendor_oracle.rs.

use serde_json::json;

use super::oracle::oracle;
use super::{TestDb, Vendor};

/// The stored value (and salt) of `login`, read with the mariadb client.
pub fn stored(db: &TestDb, login: &str) -> (String, Option<String>) {
    let (table, login_col, salt) = match db.vendor {
        Vendor::RuoYi => ("sys_user", "login_name", true),
        Vendor::RuoYiVue => ("sys_user", "user_name", false),
        Vendor::Wukong11 => ("wk_admin_user", "username", true),
        Vendor::Jeecg => ("sys_user", "username", true),
        other => panic!("{other:?}: the oracle has no kind for it; use vendor_oracle"),
    };
    let cols = if salt {
        "password, salt"
    } else {
        "password, NULL"
    };
    let rows = db.rows(&format!(
        "SELECT {cols} FROM {table} WHERE {login_col} = '{}'",
        login.replace('\'', "''")
    ));
    assert_eq!(rows.len(), 1, "{login}: {rows:?}");
    let salt = (rows[0][1] != "NULL").then(|| rows[0][1].clone());
    (rows[0][0].clone(), salt)
}

/// Whether the oracle accepts `password` against a given stored value and salt.
pub fn oracle_verifies(
    vendor: Vendor,
    login: &str,
    password: &str,
    stored: &str,
    salt: Option<&str>,
) -> bool {
    let kind = match vendor {
        Vendor::RuoYi => "ruoyi",
        Vendor::RuoYiVue => "bcrypt",
        Vendor::Wukong11 => "wukong11",
        Vendor::Jeecg => "jeecg",
        other => panic!("{other:?}: the oracle has no kind for it; use vendor_oracle"),
    };
    let out = oracle(
        "verify",
        kind,
        json!({ "password": password, "login": login, "stored": stored, "salt": salt }),
    );
    out["ok"]
        .as_bool()
        .unwrap_or_else(|| panic!("oracle answered {out}"))
}

/// Whether the oracle accepts `password` for `login` as the database holds it now.
pub fn oracle_accepts(db: &TestDb, login: &str, password: &str) -> bool {
    let (value, salt) = stored(db, login);
    oracle_verifies(db.vendor, login, password, &value, salt.as_deref())
}
