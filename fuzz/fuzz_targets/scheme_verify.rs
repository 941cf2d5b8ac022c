//! Every scheme's shape check and verifier take any stored value and salt
//! without panicking (they read values straight out of a customer database).
#![no_main]
use libfuzzer_sys::fuzz_target;
use locksmith::schemes::ShaCryptSpec;
use locksmith::schemes::{AccountInput, SaltRule, SchemeSpec, build};
use locksmith::secret::Password;
use std::sync::OnceLock;

fn schemes() -> &'static Vec<Box<dyn locksmith::schemes::Scheme>> {
    static S: OnceLock<Vec<Box<dyn locksmith::schemes::Scheme>>> = OnceLock::new();
    S.get_or_init(|| {
        let specs = vec![
            SchemeSpec::Bcrypt {
                prefix: "2y".into(),
                cost: 4,
                input: Some("md5(password)".into()),
            },
            SchemeSpec::Argon2 {
                variant: "argon2id".into(),
                m_cost: 8,
                t_cost: 1,
                p_cost: 1,
            },
            SchemeSpec::Digest {
                recipe: "md5(sha1(password) + md5(password + salt))".into(),
                salt: Some(SaltRule {
                    length: 4,
                    alphabet: "hex".into(),
                }),
            },
            SchemeSpec::Md5Crypt {
                input: None,
                salt: None,
            },
            SchemeSpec::Sha512Crypt(ShaCryptSpec {
                input: Some("md5(password)".into()),
                salt: Some("bdaff81c7b8db54d".into()),
                rounds: None,
                strip_prefix: true,
            }),
            SchemeSpec::Pbkdf2Passlib {
                digest: "sha512".into(),
                rounds: 1000,
                salt_bytes: 16,
            },
            SchemeSpec::Pbkdf2Django {
                digest: "sha256".into(),
                rounds: 1000,
            },
            SchemeSpec::JeecgPbe {
                iterations: 10,
                salt: SaltRule {
                    length: 8,
                    alphabet: "alnum".into(),
                },
            },
            SchemeSpec::Opaque { note: None },
        ];
        // A spec that stops building is a failure, not a scheme silently left out.
        specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                build(s).unwrap_or_else(|e| panic!("scheme spec #{i} no longer builds: {e}"))
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let stored = parts.next().unwrap_or_default();
    let salt = parts.next();
    let login = parts.next().unwrap_or("admin");
    let password = Password::new("Fuzz#2026".into());
    for scheme in schemes() {
        let _ = scheme.has_shape(stored);
        let _ = scheme.verify(&password, &AccountInput { login, salt }, stored);
    }
});
