//! Cross-check every scheme kind against the independent Python oracle, both ways:
//! we hash → the oracle verifies (and rejects a wrong password); the oracle
//! hashes → we verify (and reject a wrong password).
//!
//! Needs `scripts/setup-oracles` (or LOCKSMITH_ORACLE_PYTHON); fails otherwise.

#[path = "common/oracle.rs"]
mod oracle;

use locksmith::schemes::ShaCryptSpec;
use locksmith::schemes::{AccountInput, SaltRule, SchemeSpec, build};
use locksmith::secret::{Password, random_string};
use oracle::{oracle, oracle_verify};
use serde_json::{Value, json};

/// Every printable ASCII character, space and quotes included.
const PRINTABLE: &[u8] = b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// Fresh random passwords with punctuation (plus fixed nasty ones), never the same twice.
fn passwords(ascii_only: bool) -> Vec<String> {
    let mut out = vec!["Reset#2024".to_string(), "q'uo\"te\\ $1$ {x}%s".to_string()];
    for len in [8, 16, 31] {
        let mut p = random_string(len, PRINTABLE).expect("OS random");
        // Make sure each one has punctuation in it.
        p.push_str(&random_string(1, b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~").expect("OS random"));
        out.push(p);
    }
    if !ascii_only {
        out.push("Pässwörd-€-密码".to_string());
    }
    out
}

struct Case {
    /// Oracle KIND.
    kind: &'static str,
    spec: SchemeSpec,
    /// Extra request fields for the oracle (scheme parameters).
    params: Value,
    login: &'static str,
    ascii_only: bool,
}

fn request(case: &Case, password: &str, salt: Option<&str>, stored: Option<&str>) -> Value {
    let mut req = case.params.clone();
    let obj = req.as_object_mut().expect("params must be a JSON object");
    obj.insert("password".into(), json!(password));
    obj.insert("login".into(), json!(case.login));
    if let Some(s) = salt {
        obj.insert("salt".into(), json!(s));
    }
    if let Some(s) = stored {
        obj.insert("stored".into(), json!(s));
    }
    req
}

fn run(case: Case) {
    let scheme = build(&case.spec).unwrap_or_else(|e| panic!("{}: build: {e}", case.kind));
    let fixed_salt = case
        .params
        .get("salt")
        .and_then(Value::as_str)
        .map(str::to_owned);
    for p in passwords(case.ascii_only) {
        let password = Password::new(p.clone());
        let wrong = Password::new(format!("{p}x"));

        // 1. We hash, the oracle verifies.
        let hashed = scheme
            .hash(
                &password,
                &AccountInput {
                    login: case.login,
                    salt: None,
                },
            )
            .unwrap_or_else(|e| panic!("{}: hash: {e}", case.kind));
        assert!(
            scheme.has_shape(&hashed.stored),
            "{}: own output has no shape",
            case.kind
        );
        let salt = hashed.salt.as_deref().or(fixed_salt.as_deref());
        assert!(
            oracle_verify(case.kind, request(&case, &p, salt, Some(&hashed.stored))),
            "{}: oracle rejected our hash {} (password of {} bytes, login {})",
            case.kind,
            hashed.stored,
            p.len(),
            case.login
        );
        assert!(
            !oracle_verify(
                case.kind,
                request(&case, &format!("{p}x"), salt, Some(&hashed.stored))
            ),
            "{}: oracle accepted a wrong password",
            case.kind
        );

        // 2. The oracle hashes, we verify.
        let theirs = oracle(
            "hash",
            case.kind,
            request(&case, &p, fixed_salt.as_deref(), None),
        );
        let stored = theirs["stored"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: oracle hash gave no stored value: {theirs}", case.kind))
            .to_owned();
        let their_salt = theirs["salt"]
            .as_str()
            .map(str::to_owned)
            .or(fixed_salt.clone());
        let account = AccountInput {
            login: case.login,
            salt: their_salt.as_deref(),
        };
        assert!(
            scheme.has_shape(&stored),
            "{}: oracle output {stored} has no shape",
            case.kind
        );
        assert!(
            scheme
                .verify(&password, &account, &stored)
                .unwrap_or_else(|e| panic!("{}: verify: {e}", case.kind)),
            "{}: we rejected the oracle's {stored}",
            case.kind
        );
        assert!(
            !scheme.verify(&wrong, &account, &stored).expect("verify"),
            "{}: we accepted a wrong password",
            case.kind
        );
    }
}

fn hex_rule(length: usize) -> Option<SaltRule> {
    Some(SaltRule {
        length,
        alphabet: "hex".into(),
    })
}

#[test]
fn oracle_is_set_up() {
    // Fails (does not skip) with advice to run scripts/setup-oracles.
    oracle::python();
}

#[test]
fn bcrypt_all_prefixes() {
    for (prefix, cost) in [("2a", 4), ("2b", 5), ("2y", 4)] {
        run(Case {
            kind: "bcrypt",
            spec: SchemeSpec::Bcrypt {
                prefix: prefix.into(),
                cost,
                input: None,
            },
            params: json!({"prefix": prefix, "cost": cost}),
            login: "admin",
            ascii_only: false,
        });
    }
}

#[test]
fn bcrypt_vendor_cost_10() {
    run(Case {
        kind: "bcrypt",
        spec: SchemeSpec::Bcrypt {
            prefix: "2a".into(),
            cost: 10,
            input: None,
        },
        params: json!({"prefix": "2a", "cost": 10}),
        login: "admin",
        ascii_only: true,
    });
}

#[test]
fn suitecrm_bcrypt_of_md5() {
    run(Case {
        kind: "suitecrm",
        spec: SchemeSpec::Bcrypt {
            prefix: "2y".into(),
            cost: 4,
            input: Some("md5(password)".into()),
        },
        params: json!({"prefix": "2y", "cost": 4}),
        login: "admin",
        ascii_only: false,
    });
}

#[test]
fn argon2_both_variants() {
    for variant in ["argon2id", "argon2i"] {
        run(Case {
            kind: "argon2",
            spec: SchemeSpec::Argon2 {
                variant: variant.into(),
                m_cost: 1024,
                t_cost: 2,
                p_cost: 1,
            },
            params: json!({"variant": variant, "m_cost": 1024, "t_cost": 2, "p_cost": 1}),
            login: "admin",
            ascii_only: false,
        });
    }
}

#[test]
fn md5_crypt_random_and_vtiger_fixed_salt() {
    run(Case {
        kind: "md5_crypt",
        spec: SchemeSpec::Md5Crypt {
            input: None,
            salt: None,
        },
        params: json!({}),
        login: "admin",
        ascii_only: false,
    });
    run(Case {
        kind: "md5_crypt",
        spec: SchemeSpec::Md5Crypt {
            input: None,
            salt: Some("ad000000".into()),
        },
        params: json!({"salt": "ad000000"}),
        login: "admin",
        ascii_only: false,
    });
}

#[test]
fn sugarcrm_md5_crypt_of_md5() {
    run(Case {
        kind: "sugarcrm",
        spec: SchemeSpec::Md5Crypt {
            input: Some("md5(password)".into()),
            salt: None,
        },
        params: json!({}),
        login: "admin",
        ascii_only: false,
    });
}

#[test]
fn sha_crypt_default_and_explicit_rounds() {
    run(Case {
        kind: "sha256_crypt",
        spec: SchemeSpec::Sha256Crypt(ShaCryptSpec {
            input: None,
            salt: None,
            rounds: None,
            strip_prefix: false,
        }),
        params: json!({}),
        login: "admin",
        ascii_only: false,
    });
    run(Case {
        kind: "sha512_crypt",
        spec: SchemeSpec::Sha512Crypt(ShaCryptSpec {
            input: None,
            salt: None,
            rounds: None,
            strip_prefix: false,
        }),
        params: json!({}),
        login: "admin",
        ascii_only: false,
    });
    run(Case {
        kind: "sha512_crypt",
        spec: SchemeSpec::Sha512Crypt(ShaCryptSpec {
            input: None,
            salt: None,
            rounds: Some(1000),
            strip_prefix: false,
        }),
        params: json!({"rounds": 1000}),
        login: "admin",
        ascii_only: false,
    });
}

#[test]
fn espocrm_legacy_stripped_sha512_crypt() {
    run(Case {
        kind: "espo_legacy",
        spec: SchemeSpec::Sha512Crypt(ShaCryptSpec {
            input: Some("md5(password)".into()),
            salt: Some("bdaff81c7b8db54d".into()),
            rounds: None,
            strip_prefix: true,
        }),
        params: json!({"salt": "bdaff81c7b8db54d"}),
        login: "admin",
        ascii_only: false,
    });
}

#[test]
fn passlib_pbkdf2_all_digests() {
    for (kind, digest, rounds) in [
        ("pbkdf2_sha512", "sha512", 2_000),
        ("pbkdf2_sha256", "sha256", 1_000),
        ("pbkdf2_sha1", "sha1", 1_000),
    ] {
        run(Case {
            kind,
            spec: SchemeSpec::Pbkdf2Passlib {
                digest: digest.into(),
                rounds,
                salt_bytes: 16,
            },
            params: json!({"rounds": rounds, "salt_bytes": 16}),
            login: "admin",
            ascii_only: false,
        });
    }
}

#[test]
fn django_pbkdf2() {
    for (kind, digest) in [
        ("django_pbkdf2_sha256", "sha256"),
        ("django_pbkdf2_sha1", "sha1"),
    ] {
        run(Case {
            kind,
            spec: SchemeSpec::Pbkdf2Django {
                digest: digest.into(),
                rounds: 1_000,
            },
            params: json!({"rounds": 1000}),
            login: "admin",
            ascii_only: false,
        });
    }
}

#[test]
fn jeecg_pbe() {
    for login in ["admin", "zhangsan", "a.very.long.login@example.com"] {
        run(Case {
            kind: "jeecg",
            spec: SchemeSpec::JeecgPbe {
                iterations: 1000,
                salt: SaltRule {
                    length: 8,
                    alphabet: locksmith::schemes::JEECG_SALT_ALPHABET.into(),
                },
            },
            params: json!({"iterations": 1000}),
            login,
            ascii_only: true,
        });
    }
}

#[test]
fn digest_recipes() {
    for (kind, recipe, salt_len, login) in [
        (
            "wukong11",
            "md5(login + password + 'erp' + salt)",
            32,
            "13800000000",
        ),
        (
            "wukong_php",
            "md5(sha1(password) + md5(password + salt))",
            4,
            "admin",
        ),
        ("ruoyi", "md5(login + password + salt)", 6, "admin"),
    ] {
        run(Case {
            kind,
            spec: SchemeSpec::Digest {
                recipe: recipe.into(),
                salt: hex_rule(salt_len),
            },
            params: json!({}),
            login,
            ascii_only: false,
        });
    }
}

/// Kingdee K/3 WISE FSID: the oracle (binascii's uuencode of UTF-16LE, written
/// from the same third-party description) and Locksmith's bit packing must
/// produce the same value for every length (all positions of the generator's
/// six columns and its special rules) and every character of its table.
#[test]
fn kingdee_fsid_matches_the_oracle_and_the_public_vector() {
    const HEAD: &str = ")  F \", ,P T #8 *P!D &D 80!N &@ <0 C '< : !M &4 )0";
    let input = AccountInput {
        login: "制单人",
        salt: None,
    };
    for prefix in [true, false] {
        let scheme = build(&SchemeSpec::KingdeeFsid { prefix }).unwrap();
        let mut cases = vec!["123".to_string(), "Zhang#2024".to_string()];
        // Every character of the table, once, in one password.
        cases.push(String::from_utf8(locksmith::secret::PRINTABLE_NO_SPACE.to_vec()).unwrap());
        for len in 1..=40 {
            cases.push(random_string(len, locksmith::secret::PRINTABLE_NO_SPACE).unwrap());
        }
        for p in cases {
            let ours = scheme
                .hash(&Password::new(p.clone()), &input)
                .unwrap()
                .stored;
            let theirs = oracle(
                "hash",
                "kingdee_fsid",
                json!({ "password": p, "prefix": prefix }),
            );
            assert_eq!(
                ours,
                theirs["stored"].as_str().unwrap(),
                "{p:?} prefix={prefix}"
            );
            let req = |pw: &str| json!({ "password": pw, "stored": ours, "prefix": prefix });
            assert!(oracle_verify("kingdee_fsid", req(&p)), "{p:?}");
            assert!(
                !oracle_verify("kingdee_fsid", req(&format!("{p}x"))),
                "{p:?}"
            );
            assert!(
                scheme
                    .verify(&Password::new(p.clone()), &input, &ours)
                    .unwrap()
            );
        }
    }
    // The public vector (closed-systems.md §1.1): FSID("123"), 59 characters, trailing space.
    let public = format!("{HEAD} Q #( ,P ");
    let req = |pw: &str| json!({ "password": pw, "stored": public });
    assert!(oracle_verify("kingdee_fsid", req("123")));
    assert!(!oracle_verify("kingdee_fsid", req("1234")));
}
