//! JeecgBoot `PasswordUtil.encrypt(username, password, salt)`: the JDK's
//! PBEWithMD5AndDES, i.e. PBKDF1-MD5(password || salt, iterations) gives the
//! DES key (bytes 0..8) and IV (8..16); the **login** is encrypted with
//! DES-CBC/PKCS#5 and stored as lowercase hex. Reversible, bound to the login.

use super::{
    AccountInput, Hashed, PasswordRules, SaltRule, Scheme, SchemeError, ct_eq, is_hex_lower,
};
use crate::secret::{Password, random_string};
use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use md5::{Digest, Md5};
use zeroize::Zeroizing;

/// `oConvertUtils.randomGen` alphabet used by JeecgBoot for `sys_user.salt`.
pub const JEECG_SALT_ALPHABET: &str =
    "qwertyuioplkjhgfdsazxcvbnmQAZWSXEDCRFVTGBYHNUJMIKLOP0123456789";

/// PBEWithMD5AndDES needs exactly 8 salt bytes.
const SALT_LEN: usize = 8;

#[derive(Debug)]
pub(crate) struct JeecgPbe {
    iterations: u32,
    salt_rule: SaltRule,
    symbols: Vec<u8>,
}

impl JeecgPbe {
    pub(crate) fn new(iterations: u32, salt: &SaltRule) -> Result<Self, SchemeError> {
        if iterations == 0 {
            return Err(SchemeError::BadSpec(
                "jeecg-pbe iterations must be at least 1 (JeecgBoot uses 1000)".into(),
            ));
        }
        if salt.length != SALT_LEN {
            return Err(SchemeError::BadSpec(format!(
                "jeecg-pbe salt length is {}; PBEWithMD5AndDES needs exactly 8 characters",
                salt.length
            )));
        }
        let symbols = salt.symbols()?;
        Ok(JeecgPbe {
            iterations,
            salt_rule: salt.clone(),
            symbols,
        })
    }

    fn encrypt(&self, password: &Password, login: &str, salt: &str) -> Result<String, SchemeError> {
        if salt.len() != SALT_LEN {
            return Err(SchemeError::Malformed(format!(
                "the account's salt is {} bytes; JeecgBoot salts are exactly 8 characters",
                salt.len()
            )));
        }
        // PKCS#5 v1.5 PBKDF1: T1 = MD5(P || S), Ti = MD5(T(i-1)), DK = Tc.
        let mut first = Md5::new();
        first.update(password.expose().as_bytes());
        first.update(salt.as_bytes());
        let mut dk = Zeroizing::new(first.finalize().to_vec());
        for _ in 1..self.iterations {
            let next = Md5::digest(dk.as_slice()).to_vec();
            *dk = next;
        }
        let enc = cbc::Encryptor::<des::Des>::new_from_slices(&dk[..8], &dk[8..16])
            .map_err(|_| SchemeError::Library("DES key/IV length".into()))?;
        Ok(hex::encode(
            enc.encrypt_padded_vec::<Pkcs7>(login.as_bytes()),
        ))
    }
}

impl Scheme for JeecgPbe {
    fn id(&self) -> String {
        if self.iterations == 1000 {
            "jeecg-pbe".into()
        } else {
            format!("jeecg-pbe:iterations={}", self.iterations)
        }
    }

    fn level(&self) -> super::Level {
        super::Level::VendorSource
    }

    fn rules(&self) -> PasswordRules {
        // The JDK's PBEKey refuses anything outside 0x20..=0x7E, and JeecgBoot
        // then stores null: such a password could never log in.
        PasswordRules {
            max_bytes: None,
            printable_ascii_only: true,
        }
    }

    fn bound_to_login(&self) -> bool {
        true
    }

    fn uses_salt_column(&self) -> bool {
        true
    }

    fn hash(&self, password: &Password, account: &AccountInput) -> Result<Hashed, SchemeError> {
        self.rules().check(password)?;
        let salt = random_string(self.salt_rule.length, &self.symbols)?;
        let stored = self.encrypt(password, account.login, &salt)?;
        Ok(Hashed {
            stored,
            salt: Some(salt),
        })
    }

    fn verify(
        &self,
        password: &Password,
        account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError> {
        let salt = account.salt.ok_or(SchemeError::MissingSalt)?;
        if self.rules().check(password).is_err() {
            // JeecgBoot cannot log such a password in; nothing can match.
            return Ok(false);
        }
        let computed = self.encrypt(password, account.login, salt)?;
        Ok(ct_eq(computed.as_bytes(), stored.as_bytes()))
    }

    fn has_shape(&self, stored: &str) -> bool {
        is_hex_lower(stored) && stored.len().is_multiple_of(16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::{SchemeSpec, build};

    fn pw(s: &str) -> Password {
        Password::new(s.into())
    }

    fn scheme() -> Box<dyn Scheme> {
        build(&SchemeSpec::JeecgPbe {
            iterations: 1000,
            salt: SaltRule {
                length: 8,
                alphabet: JEECG_SALT_ALPHABET.into(),
            },
        })
        .unwrap()
    }

    fn check(login: &str, password: &str, salt: &str, stored: &str) {
        let s = scheme();
        let a = AccountInput {
            login,
            salt: Some(salt),
        };
        assert!(s.verify(&pw(password), &a, stored).unwrap(), "{login}");
        assert!(!s.verify(&pw("wrong"), &a, stored).unwrap(), "{login}");
        assert!(s.has_shape(stored));
    }

    #[test]
    fn vendor_seed_vectors() {
        check("admin", "123456", "RCGTeGiH", "cb362cfeefbf3d8d");
        check("jeecg", "123456", "mIgiYJow", "eee378a1258530cb");
    }

    #[test]
    fn new_vectors() {
        check("admin", "Reset#2024", "AbCd1234", "b42ae6fe794da642");
        check(
            "zhangsan",
            "Reset#2024",
            "x5xRdeKB",
            "1dee37b5341e53228176a7d6721c2f69",
        );
        // Bound to the login: the same password and salt under another login differ.
        let s = scheme();
        let other = AccountInput {
            login: "Admin",
            salt: Some("AbCd1234"),
        };
        assert!(
            !s.verify(&pw("Reset#2024"), &other, "b42ae6fe794da642")
                .unwrap()
        );
    }

    #[test]
    fn round_trip_with_fresh_vendor_alphabet_salt() {
        let s = scheme();
        let p = pw("P@ss w0rd'\"~`\\");
        let h = s
            .hash(
                &p,
                &AccountInput {
                    login: "zhangsan",
                    salt: Some("old"),
                },
            )
            .unwrap();
        let salt = h.salt.clone().unwrap();
        assert_eq!(salt.len(), 8);
        assert!(
            salt.bytes()
                .all(|b| JEECG_SALT_ALPHABET.as_bytes().contains(&b))
        );
        assert_eq!(h.stored.len(), 32);
        let a = AccountInput {
            login: "zhangsan",
            salt: Some(&salt),
        };
        assert!(s.verify(&p, &a, &h.stored).unwrap());
        assert!(s.has_shape(&h.stored));
        assert!(s.bound_to_login() && s.uses_salt_column());
        assert_eq!(s.id(), "jeecg-pbe");
    }

    #[test]
    fn refuses_non_printable_ascii() {
        let s = scheme();
        let a = AccountInput {
            login: "admin",
            salt: None,
        };
        for bad in ["Passwört1", "tab\there", "emoji🙂"] {
            assert!(matches!(
                s.hash(&pw(bad), &a),
                Err(SchemeError::NotPrintableAscii)
            ));
        }
    }

    #[test]
    fn spec_and_shape_checks() {
        for (iterations, length) in [(0, 8), (1000, 6)] {
            assert!(
                build(&SchemeSpec::JeecgPbe {
                    iterations,
                    salt: SaltRule {
                        length,
                        alphabet: "alnum".into()
                    }
                })
                .is_err()
            );
        }
        let s = scheme();
        assert!(!s.has_shape("cb362cfeefbf3d8"));
        assert!(!s.has_shape("CB362CFEEFBF3D8D"));
        assert!(!s.has_shape("$1$ad000000$hzXFXvL3XVlnUE/X.1n9t/"));
        let a = AccountInput {
            login: "admin",
            salt: Some("short"),
        };
        assert!(matches!(
            s.verify(&pw("123456"), &a, "cb362cfeefbf3d8d"),
            Err(SchemeError::Malformed(_))
        ));
    }
}
