//! bcrypt (`$2a$`/`$2b$`/`$2y$`), optionally over a recipe of the password
//! (SuiteCRM hashes `md5(password)` hex, not the password itself).

use super::digest::{Recipe, Var};
use super::{AccountInput, Hashed, PasswordRules, Scheme, SchemeError};
use crate::secret::{Password, random_bytes};

/// bcrypt reads at most this many bytes of its input.
pub(crate) const MAX_BYTES: usize = 72;

#[derive(Debug)]
pub(crate) struct BcryptScheme {
    prefix: String,
    cost: u32,
    input: Option<Recipe>,
}

impl BcryptScheme {
    pub(crate) fn new(prefix: &str, cost: u32, input: Option<&str>) -> Result<Self, SchemeError> {
        if !matches!(prefix, "2a" | "2b" | "2y") {
            return Err(SchemeError::BadSpec(format!(
                "bcrypt prefix {prefix:?} is not supported; use \"2y\" (PHP), \"2a\" (Spring, \
                 jBCrypt) or \"2b\" (OpenBSD, Python), without the dollar signs"
            )));
        }
        if !(4..=31).contains(&cost) {
            return Err(SchemeError::BadSpec(format!(
                "bcrypt cost {cost} is out of range; use 4..=31 (vendors use 10)"
            )));
        }
        let input = input.map(Recipe::parse).transpose()?;
        if let Some(r) = &input {
            if r.mentions(Var::Salt) {
                return Err(SchemeError::BadSpec(
                    "a bcrypt input recipe cannot use `salt`: bcrypt keeps its salt inside the hash"
                        .into(),
                ));
            }
            if !r.mentions(Var::Password) {
                return Err(SchemeError::BadRecipe {
                    recipe: r.canonical(),
                    reason: "the recipe never uses `password`".into(),
                });
            }
        }
        Ok(BcryptScheme {
            prefix: prefix.to_owned(),
            cost,
            input,
        })
    }

    fn version(&self) -> bcrypt::Version {
        match self.prefix.as_str() {
            "2a" => bcrypt::Version::TwoA,
            "2b" => bcrypt::Version::TwoB,
            _ => bcrypt::Version::TwoY,
        }
    }

    /// The bytes bcrypt actually sees.
    fn input_of(&self, password: &Password, login: &str) -> Result<Password, SchemeError> {
        match &self.input {
            Some(r) => r.eval_text(password, login, None),
            None => Ok(password.clone()),
        }
    }
}

/// `^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$` with a cost of 04..=31.
pub(crate) fn bcrypt_shape(s: &str) -> Option<(&str, u32)> {
    let b = s.as_bytes();
    if b.len() != 60 || b[0] != b'$' || b[1] != b'2' || b[3] != b'$' || b[6] != b'$' {
        return None;
    }
    if !matches!(b[2], b'a' | b'b' | b'y') || !b[4].is_ascii_digit() || !b[5].is_ascii_digit() {
        return None;
    }
    if !b[7..].iter().all(|&c| super::is_crypt_char(c)) {
        return None;
    }
    let cost = u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0');
    if !(4..=31).contains(&cost) {
        return None;
    }
    Some((&s[1..3], cost))
}

impl Scheme for BcryptScheme {
    fn id(&self) -> String {
        match &self.input {
            Some(r) => format!("bcrypt${}${:02}:{}", self.prefix, self.cost, r.canonical()),
            None => format!("bcrypt${}${:02}", self.prefix, self.cost),
        }
    }

    fn level(&self) -> super::Level {
        super::Level::VendorSource
    }

    fn rules(&self) -> PasswordRules {
        // With a fixed-length input recipe (md5 hex = 32 bytes) the password length
        // does not matter; otherwise the password itself must fit.
        let max_bytes = match &self.input {
            Some(r) if r.shape().fixed_len().is_some_and(|n| n <= MAX_BYTES) => None,
            _ => Some(MAX_BYTES),
        };
        PasswordRules {
            max_bytes,
            printable_ascii_only: false,
        }
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
        let got = input.expose().len();
        if got > MAX_BYTES {
            return Err(SchemeError::PasswordTooLong {
                max: MAX_BYTES,
                got,
            });
        }
        let salt = random_bytes::<16>()?;
        // Length checked above; the crate's own non-truncating mode would also
        // refuse exactly 72 bytes, which PHP, Spring and Python accept in full.
        let parts = bcrypt::hash_with_salt(input.expose(), self.cost, salt)
            .map_err(|e| SchemeError::Library(format!("bcrypt: {e}")))?;
        Ok(Hashed {
            stored: parts.format_for_version(self.version()),
            salt: None,
        })
    }

    fn verify(
        &self,
        password: &Password,
        account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError> {
        if bcrypt_shape(stored).is_none() {
            return Err(SchemeError::Malformed(
                "not a bcrypt hash: expected 60 characters $2a$/$2b$/$2y$, two-digit cost, \
                 53 characters of ./A-Za-z0-9"
                    .into(),
            ));
        }
        let input = self.input_of(password, account.login)?;
        // Like PHP and jBCrypt, only the first 72 bytes count when verifying.
        bcrypt::verify(input.expose(), stored).map_err(|_| {
            SchemeError::Malformed("the bcrypt salt or hash part does not decode".into())
        })
    }

    fn has_shape(&self, stored: &str) -> bool {
        bcrypt_shape(stored).is_some()
    }
}

#[cfg(test)]
mod tests {
    use crate::schemes::{AccountInput, SchemeError, SchemeSpec, build};
    use crate::secret::Password;

    fn pw(s: &str) -> Password {
        Password::new(s.into())
    }

    const NOBODY: AccountInput = AccountInput {
        login: "admin",
        salt: None,
    };

    fn bcrypt(prefix: &str, input: Option<&str>) -> Box<dyn crate::schemes::Scheme> {
        build(&SchemeSpec::Bcrypt {
            prefix: prefix.into(),
            cost: 4,
            input: input.map(Into::into),
        })
        .unwrap()
    }

    #[test]
    fn ruoyi_vue_seed_and_fixed_salt_vector() {
        let s = bcrypt("2a", None);
        let seed = "$2a$10$7JB720yubVSZvUI0rEqK/.VqGOZTH.ulu33dHOiBE8ByOhJIrdAu2";
        assert!(s.verify(&pw("admin123"), &NOBODY, seed).unwrap());
        assert!(!s.verify(&pw("admin1234"), &NOBODY, seed).unwrap());
        let v = "$2a$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS";
        assert!(s.verify(&pw("Reset#2024"), &NOBODY, v).unwrap());
        // The same hash under the PHP prefix (vtiger, EspoCRM, Dolibarr, CRMEB vectors).
        let php = "$2y$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS";
        assert!(s.verify(&pw("Reset#2024"), &NOBODY, php).unwrap());
        assert!(s.has_shape(seed) && s.has_shape(php));
        // Reproduce the fixed-salt vector with the crate directly.
        let salt = v.parse::<bcrypt::HashParts>().unwrap().get_salt_raw();
        let parts = bcrypt::hash_with_salt("Reset#2024", 10, salt).unwrap();
        assert_eq!(parts.format_for_version(bcrypt::Version::TwoA), v);
    }

    #[test]
    fn suitecrm_bcrypt_of_md5_vector() {
        let s = bcrypt("2y", Some("md5(password)"));
        let v = "$2y$10$abcdefghijklmnopqrstuufeNirAsI4pxYNCTxCK02evLR6L0s5ye";
        assert!(s.verify(&pw("Reset#2024"), &NOBODY, v).unwrap());
        assert!(!s.verify(&pw("Reset#2025"), &NOBODY, v).unwrap());
        // Without the recipe the same hash does not accept the password.
        assert!(
            !bcrypt("2y", None)
                .verify(&pw("Reset#2024"), &NOBODY, v)
                .unwrap()
        );
        assert_eq!(s.id(), "bcrypt$2y$04:md5(password)");
        // md5 hex is 32 bytes: long passwords are fine.
        assert_eq!(s.rules().max_bytes, None);
        let long = pw(&"x".repeat(100));
        let h = s.hash(&long, &NOBODY).unwrap();
        assert!(s.verify(&long, &NOBODY, &h.stored).unwrap());
    }

    #[test]
    fn writes_exactly_the_configured_prefix_and_round_trips() {
        for prefix in ["2a", "2b", "2y"] {
            let s = bcrypt(prefix, None);
            let p = pw("Tr1cky \"quote' $dollar\\ ünï");
            let h = s.hash(&p, &NOBODY).unwrap();
            assert!(h.stored.starts_with(&format!("${prefix}$04$")), "{prefix}");
            assert_eq!(h.salt, None);
            assert!(s.has_shape(&h.stored));
            assert!(s.verify(&p, &NOBODY, &h.stored).unwrap());
            assert!(!s.verify(&pw("Tr1cky"), &NOBODY, &h.stored).unwrap());
            assert_ne!(
                s.hash(&p, &NOBODY).unwrap().stored,
                h.stored,
                "salt must be fresh"
            );
        }
        assert_eq!(bcrypt("2a", None).id(), "bcrypt$2a$04");
    }

    #[test]
    fn refuses_more_than_72_bytes() {
        let s = bcrypt("2y", None);
        let e = s.hash(&pw(&"a".repeat(73)), &NOBODY).unwrap_err();
        assert!(matches!(
            e,
            SchemeError::PasswordTooLong { max: 72, got: 73 }
        ));
        assert!(e.to_string().contains("72"));
        assert!(s.hash(&pw(&"a".repeat(72)), &NOBODY).is_ok());
        // Multi-byte characters count in bytes.
        assert!(s.hash(&pw(&"é".repeat(37)), &NOBODY).is_err());
        // A recipe that grows the input is checked after the recipe.
        let grown = bcrypt("2y", Some("password + password"));
        assert!(matches!(
            grown.hash(&pw(&"a".repeat(40)), &NOBODY),
            Err(SchemeError::PasswordTooLong { max: 72, got: 80 })
        ));
    }

    #[test]
    fn shape_and_spec_checks() {
        let s = bcrypt("2y", None);
        for bad in [
            "",
            "$2x$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS",
            "$2y$1$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhSx",
            "$2y$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQh",
            "$2y$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQh!",
            "$2y$99$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS",
            "$1$ad000000$hzXFXvL3XVlnUE/X.1n9t/",
            "0182b57e430540dbf1084a834c0a4f7b",
        ] {
            assert!(!s.has_shape(bad), "{bad}");
        }
        assert!(matches!(
            s.verify(&pw("x"), &NOBODY, "0182b57e430540dbf1084a834c0a4f7b"),
            Err(SchemeError::Malformed(_))
        ));
        for (prefix, cost) in [("$2y$", 10), ("2x", 10), ("2y", 3), ("2y", 32)] {
            assert!(
                build(&SchemeSpec::Bcrypt {
                    prefix: prefix.into(),
                    cost,
                    input: None
                })
                .is_err()
            );
        }
        assert!(
            build(&SchemeSpec::Bcrypt {
                prefix: "2y".into(),
                cost: 10,
                input: Some("md5(password + salt)".into())
            })
            .is_err()
        );
    }
}
