//! crypt(3) formats: `$1$` md5-crypt, `$5$` sha256-crypt, `$6$` sha512-crypt,
//! optionally over an input recipe (SugarCRM, EspoCRM legacy: `md5(password)`),
//! with a fixed salt and the `$6$salt$` prefix stripped (EspoCRM < 9).
//!
//! Computation is pwhash's; the tests cross-check `$5$`/`$6$` against the
//! RustCrypto `sha-crypt` verifier.

use super::digest::{Recipe, Var};
use super::{AccountInput, CRYPT_ALPHABET, Hashed, PasswordRules, Scheme, SchemeError, ct_eq};
use crate::secret::{Password, random_string};
use pwhash::HashSetup;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CryptKind {
    Md5,
    Sha256,
    Sha512,
}

impl CryptKind {
    fn magic(self) -> &'static str {
        match self {
            CryptKind::Md5 => "$1$",
            CryptKind::Sha256 => "$5$",
            CryptKind::Sha512 => "$6$",
        }
    }

    fn name(self) -> &'static str {
        match self {
            CryptKind::Md5 => "md5-crypt",
            CryptKind::Sha256 => "sha256-crypt",
            CryptKind::Sha512 => "sha512-crypt",
        }
    }

    fn max_salt(self) -> usize {
        match self {
            CryptKind::Md5 => 8,
            CryptKind::Sha256 | CryptKind::Sha512 => 16,
        }
    }

    /// Length of the encoded checksum.
    fn checksum_len(self) -> usize {
        match self {
            CryptKind::Md5 => 22,
            CryptKind::Sha256 => 43,
            CryptKind::Sha512 => 86,
        }
    }

    // pwhash marks md5-crypt and sha256-crypt deprecated for *new* systems; the
    // vendors we write for still use them.
    #[allow(deprecated)]
    fn compute(self, input: &[u8], setup: HashSetup<'_>) -> pwhash::Result<String> {
        match self {
            CryptKind::Md5 => pwhash::md5_crypt::hash_with(setup, input),
            CryptKind::Sha256 => pwhash::sha256_crypt::hash_with(setup, input),
            CryptKind::Sha512 => pwhash::sha512_crypt::hash_with(setup, input),
        }
    }
}

/// Parsed `$id$[rounds=N$]salt$checksum`.
pub(crate) struct CryptParts<'a> {
    pub kind: CryptKind,
    pub rounds: Option<u32>,
    pub salt: &'a str,
}

/// Structural check of a full crypt string; None when it is not one.
pub(crate) fn parse_crypt(s: &str) -> Option<CryptParts<'_>> {
    let kind = [CryptKind::Md5, CryptKind::Sha256, CryptKind::Sha512]
        .into_iter()
        .find(|k| s.starts_with(k.magic()))?;
    let rest = &s[3..];
    let mut fields: Vec<&str> = rest.split('$').collect();
    let mut rounds = None;
    if kind != CryptKind::Md5 && fields.len() == 3 {
        let r = fields.remove(0).strip_prefix("rounds=")?;
        if r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()) || r.len() > 9 {
            return None;
        }
        rounds = Some(r.parse().ok()?);
    }
    let [salt, checksum] = fields[..] else {
        return None;
    };
    let ok = salt.len() <= kind.max_salt()
        && salt.bytes().all(super::is_crypt_char)
        && checksum.len() == kind.checksum_len()
        && checksum.bytes().all(super::is_crypt_char);
    ok.then_some(CryptParts { kind, rounds, salt })
}

#[derive(Debug)]
pub(crate) struct CryptScheme {
    kind: CryptKind,
    input: Option<Recipe>,
    salt: Option<String>,
    rounds: Option<u32>,
    strip_prefix: bool,
}

impl CryptScheme {
    pub(crate) fn new(
        kind: CryptKind,
        input: Option<&str>,
        salt: Option<&str>,
        rounds: Option<u32>,
        strip_prefix: bool,
    ) -> Result<Self, SchemeError> {
        let input = input.map(Recipe::parse).transpose()?;
        if let Some(r) = &input {
            if r.mentions(Var::Salt) {
                return Err(SchemeError::BadSpec(format!(
                    "a {} input recipe cannot use `salt`: the crypt salt is set with `salt`",
                    kind.name()
                )));
            }
            if !r.mentions(Var::Password) {
                return Err(SchemeError::BadRecipe {
                    recipe: r.canonical(),
                    reason: "the recipe never uses `password`".into(),
                });
            }
        }
        if let Some(s) = salt
            && (s.is_empty() || s.len() > kind.max_salt() || !s.bytes().all(super::is_crypt_char))
        {
            return Err(SchemeError::BadSpec(format!(
                "{} salt must be 1 to {} characters of ./0-9A-Za-z",
                kind.name(),
                kind.max_salt()
            )));
        }
        if let Some(r) = rounds
            && !(1000..=999_999_999).contains(&r)
        {
            return Err(SchemeError::BadSpec(format!(
                "{} rounds {r} is out of range; use 1000..=999999999 or leave it out for the \
                 default 5000",
                kind.name()
            )));
        }
        if strip_prefix && salt.is_none() {
            return Err(SchemeError::BadSpec(
                "strip_prefix needs a fixed `salt` (EspoCRM: passwordSalt from data/config), \
                 otherwise the salt would be lost"
                    .into(),
            ));
        }
        Ok(CryptScheme {
            kind,
            input,
            salt: salt.map(str::to_owned),
            rounds,
            strip_prefix,
        })
    }

    fn input_of(&self, password: &Password, login: &str) -> Result<Password, SchemeError> {
        match &self.input {
            Some(r) => r.eval_text(password, login, None),
            None => Ok(password.clone()),
        }
    }

    /// "$6$[rounds=N$]salt$" for the fixed salt.
    fn fixed_prefix(&self, salt: &str) -> String {
        match self.rounds {
            Some(r) => format!("{}rounds={r}${salt}$", self.kind.magic()),
            None => format!("{}{salt}$", self.kind.magic()),
        }
    }
}

impl Scheme for CryptScheme {
    fn id(&self) -> String {
        let mut id = self.kind.name().to_string();
        let mut opts = Vec::new();
        if let Some(r) = &self.input {
            opts.push(format!("input={}", r.canonical()));
        }
        if self.salt.is_some() {
            opts.push("fixed-salt".into());
        }
        if let Some(r) = self.rounds {
            opts.push(format!("rounds={r}"));
        }
        if self.strip_prefix {
            opts.push("stripped".into());
        }
        if !opts.is_empty() {
            id.push(':');
            id.push_str(&opts.join(","));
        }
        id
    }

    fn level(&self) -> super::Level {
        super::Level::VendorSource
    }

    fn rules(&self) -> PasswordRules {
        PasswordRules::NONE
    }

    fn bound_to_login(&self) -> bool {
        self.input.as_ref().is_some_and(|r| r.mentions(Var::Login))
    }

    fn uses_salt_column(&self) -> bool {
        false
    }

    fn hash(&self, password: &Password, account: &AccountInput) -> Result<Hashed, SchemeError> {
        self.rules().check(password)?;
        let input = self.input_of(password, account.login)?;
        let salt = match &self.salt {
            Some(s) => s.clone(),
            None => random_string(self.kind.max_salt(), CRYPT_ALPHABET)?,
        };
        let full = self
            .kind
            .compute(
                input.expose().as_bytes(),
                HashSetup {
                    salt: Some(&salt),
                    rounds: self.rounds,
                },
            )
            .map_err(|e| SchemeError::Library(format!("{}: {e}", self.kind.name())))?;
        let stored = if self.strip_prefix {
            let prefix = self.fixed_prefix(&salt);
            match full.strip_prefix(&prefix) {
                Some(rest) => rest.to_owned(),
                None => {
                    return Err(SchemeError::Library(format!(
                        "{} did not produce the expected prefix",
                        self.kind.name()
                    )));
                }
            }
        } else {
            full
        };
        Ok(Hashed { stored, salt: None })
    }

    fn verify(
        &self,
        password: &Password,
        account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError> {
        let full = match (&self.salt, self.strip_prefix) {
            (Some(salt), true) => format!("{}{stored}", self.fixed_prefix(salt)),
            _ => stored.to_owned(),
        };
        match parse_crypt(&full) {
            Some(p) if p.kind == self.kind => {}
            _ => {
                return Err(SchemeError::Malformed(if self.strip_prefix {
                    format!(
                        "not a stripped {} value: expected {} characters of ./0-9A-Za-z",
                        self.kind.name(),
                        self.kind.checksum_len()
                    )
                } else {
                    format!(
                        "not a {} value: expected {}[rounds=N$]salt$checksum",
                        self.kind.name(),
                        self.kind.magic()
                    )
                }));
            }
        }
        let input = self.input_of(password, account.login)?;
        let computed = self
            .kind
            .compute(input.expose().as_bytes(), parse_setup(&full))
            .map_err(|_| {
                SchemeError::Malformed(format!("{} salt does not decode", self.kind.name()))
            })?;
        Ok(ct_eq(computed.as_bytes(), full.as_bytes()))
    }

    fn has_shape(&self, stored: &str) -> bool {
        if self.strip_prefix {
            stored.len() == self.kind.checksum_len() && stored.bytes().all(super::is_crypt_char)
        } else {
            parse_crypt(stored).is_some_and(|p| {
                p.kind == self.kind && self.salt.as_deref().is_none_or(|s| s == p.salt)
            })
        }
    }
}

/// Salt and rounds of an already validated crypt string.
fn parse_setup(full: &str) -> HashSetup<'_> {
    match parse_crypt(full) {
        Some(p) => HashSetup {
            salt: Some(p.salt),
            rounds: p.rounds,
        },
        None => HashSetup {
            salt: None,
            rounds: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::{SchemeSpec, build};
    use sha_crypt::{PasswordVerifier, ShaCrypt};

    fn pw(s: &str) -> Password {
        Password::new(s.into())
    }

    const A: AccountInput = AccountInput {
        login: "admin",
        salt: None,
    };

    fn md5crypt(input: Option<&str>, salt: Option<&str>) -> Box<dyn Scheme> {
        build(&SchemeSpec::Md5Crypt {
            input: input.map(Into::into),
            salt: salt.map(Into::into),
        })
        .unwrap()
    }

    fn espo_legacy() -> Box<dyn Scheme> {
        build(&SchemeSpec::Sha512Crypt(crate::schemes::ShaCryptSpec {
            input: Some("md5(password)".into()),
            salt: Some("bdaff81c7b8db54d".into()),
            rounds: None,
            strip_prefix: true,
        }))
        .unwrap()
    }

    #[test]
    fn vtiger_md5_crypt_vectors() {
        let s = md5crypt(None, Some("ad000000"));
        assert!(
            s.verify(&pw("admin"), &A, "$1$ad000000$hzXFXvL3XVlnUE/X.1n9t/")
                .unwrap()
        );
        assert!(
            s.verify(&pw("Reset#2024"), &A, "$1$ad000000$9D0fEnLfZQhBGI83FDY811")
                .unwrap()
        );
        assert!(
            !s.verify(&pw("admin"), &A, "$1$ad000000$9D0fEnLfZQhBGI83FDY811")
                .unwrap()
        );
        assert_eq!(
            s.hash(&pw("Reset#2024"), &A).unwrap().stored,
            "$1$ad000000$9D0fEnLfZQhBGI83FDY811"
        );
        assert!(s.has_shape("$1$ad000000$9D0fEnLfZQhBGI83FDY811"));
        assert!(!s.has_shape("$1$Sugar123$vhJAlMoSa8mKwau2B6TVx."));
        // A random-salt md5-crypt scheme verifies any salt.
        assert!(
            md5crypt(None, None)
                .verify(&pw("admin"), &A, "$1$ad000000$hzXFXvL3XVlnUE/X.1n9t/")
                .unwrap()
        );
    }

    #[test]
    fn sugarcrm_md5_crypt_of_md5_vector() {
        let s = md5crypt(Some("md5(password)"), None);
        let v = "$1$Sugar123$vhJAlMoSa8mKwau2B6TVx.";
        assert!(s.verify(&pw("Reset#2024"), &A, v).unwrap());
        assert!(!s.verify(&pw("Reset#2025"), &A, v).unwrap());
        assert!(
            !md5crypt(None, None)
                .verify(&pw("Reset#2024"), &A, v)
                .unwrap()
        );
        assert!(s.has_shape(v));
        assert_eq!(s.id(), "md5-crypt:input=md5(password)");
    }

    #[test]
    fn espocrm_legacy_stripped_vectors() {
        let s = espo_legacy();
        let vendor = "4gDlJKdkj/MMo2axSwvvWUv0ktSUeGpis/wLcpL8aEBUxXTVa.rxFb1cfKzTiSE4ookBdNpLMheJmtZqzDSRA0";
        let new = "T/pckOsRrNkaU6pu7ojdaI.nX/NPKW2g1svks2XeRuzAahRAHN9kail843DaWo1ORKsaFZYrupxAeeQ4WoN0u0";
        assert!(s.verify(&pw("test-password"), &A, vendor).unwrap());
        assert!(s.verify(&pw("Reset#2024"), &A, new).unwrap());
        assert!(!s.verify(&pw("Reset#2024"), &A, vendor).unwrap());
        assert_eq!(s.hash(&pw("Reset#2024"), &A).unwrap().stored, new);
        assert!(s.has_shape(new));
        assert!(!s.has_shape(&format!("$6$bdaff81c7b8db54d${new}")));
        assert_eq!(
            s.id(),
            "sha512-crypt:input=md5(password),fixed-salt,stripped"
        );
        // Cross-check with the RustCrypto implementation.
        let md5hex = "0182b57e430540dbf1084a834c0a4f7b";
        assert!(
            ShaCrypt::SHA512
                .verify_password(
                    md5hex.as_bytes(),
                    format!("$6$bdaff81c7b8db54d${new}").as_str()
                )
                .is_ok()
        );
    }

    #[test]
    fn round_trips_cross_checked_with_sha_crypt() {
        for (kind, spec) in [
            (
                "md5",
                SchemeSpec::Md5Crypt {
                    input: None,
                    salt: None,
                },
            ),
            (
                "sha256",
                SchemeSpec::Sha256Crypt(crate::schemes::ShaCryptSpec {
                    input: None,
                    salt: None,
                    rounds: None,
                    strip_prefix: false,
                }),
            ),
            (
                "sha256r",
                SchemeSpec::Sha256Crypt(crate::schemes::ShaCryptSpec {
                    input: None,
                    salt: None,
                    rounds: Some(5000),
                    strip_prefix: false,
                }),
            ),
            (
                "sha512",
                SchemeSpec::Sha512Crypt(crate::schemes::ShaCryptSpec {
                    input: None,
                    salt: None,
                    rounds: Some(1000),
                    strip_prefix: false,
                }),
            ),
            (
                "sha512s",
                SchemeSpec::Sha512Crypt(crate::schemes::ShaCryptSpec {
                    input: Some("md5(password)".into()),
                    salt: Some("abcdEFGH./01".into()),
                    rounds: Some(2000),
                    strip_prefix: true,
                }),
            ),
        ] {
            let s = build(&spec).unwrap();
            let p = pw("P@ss w0rd'\"$x ü");
            let h = s.hash(&p, &A).unwrap();
            assert!(s.has_shape(&h.stored), "{kind}: {}", h.stored);
            assert!(s.verify(&p, &A, &h.stored).unwrap(), "{kind}");
            assert!(
                !s.verify(&pw("P@ss w0rd"), &A, &h.stored).unwrap(),
                "{kind}"
            );
            assert_eq!(h.salt, None);
            match kind {
                "md5" => assert!(h.stored.starts_with("$1$") && h.stored.len() == 34),
                "sha256" => {
                    assert!(!h.stored.contains("rounds="));
                    assert!(
                        ShaCrypt::SHA256
                            .verify_password(p.expose().as_bytes(), h.stored.as_str())
                            .is_ok()
                    );
                }
                "sha256r" => {
                    assert!(h.stored.starts_with("$5$rounds=5000$"));
                    assert!(
                        ShaCrypt::SHA256
                            .verify_password(p.expose().as_bytes(), h.stored.as_str())
                            .is_ok()
                    );
                }
                "sha512" => {
                    assert!(h.stored.starts_with("$6$rounds=1000$"));
                    assert!(
                        ShaCrypt::SHA512
                            .verify_password(p.expose().as_bytes(), h.stored.as_str())
                            .is_ok()
                    );
                }
                _ => assert_eq!(h.stored.len(), 86),
            }
        }
    }

    #[test]
    fn spec_and_shape_checks() {
        let bad = [
            SchemeSpec::Md5Crypt {
                input: None,
                salt: Some("toolongsalt".into()),
            },
            SchemeSpec::Md5Crypt {
                input: None,
                salt: Some("bad$salt".into()),
            },
            SchemeSpec::Sha512Crypt(crate::schemes::ShaCryptSpec {
                input: None,
                salt: None,
                rounds: None,
                strip_prefix: true,
            }),
            SchemeSpec::Sha512Crypt(crate::schemes::ShaCryptSpec {
                input: None,
                salt: None,
                rounds: Some(999),
                strip_prefix: false,
            }),
            SchemeSpec::Sha256Crypt(crate::schemes::ShaCryptSpec {
                input: Some("md5(salt+password)".into()),
                salt: None,
                rounds: None,
                strip_prefix: false,
            }),
        ];
        for spec in bad {
            assert!(build(&spec).is_err(), "{spec:?}");
        }
        let s = md5crypt(None, None);
        assert!(!s.has_shape("$6$bdaff81c7b8db54d$T/pckOsRrNkaU6pu7ojdaI"));
        assert!(!s.has_shape("$2y$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS"));
        assert!(matches!(
            s.verify(
                &pw("x"),
                &A,
                "$2y$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS"
            ),
            Err(SchemeError::Malformed(_))
        ));
        assert!(!espo_legacy().has_shape("0182b57e430540dbf1084a834c0a4f7b"));
    }
}
