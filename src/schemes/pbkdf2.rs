//! PBKDF2-HMAC strings: passlib's `$pbkdf2-sha512$rounds$salt$hash` (Odoo) and
//! Django's `pbkdf2_sha256$iterations$salt$hash`.

use super::{AccountInput, Hashed, Scheme, SchemeError, constant_facts, ct_eq, random_vec};
use crate::secret::{ALNUM, Password, random_string};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prf {
    Sha1,
    Sha256,
    Sha512,
}

impl Prf {
    fn parse(digest: &str) -> Result<Prf, SchemeError> {
        match digest {
            "sha1" => Ok(Prf::Sha1),
            "sha256" => Ok(Prf::Sha256),
            "sha512" => Ok(Prf::Sha512),
            other => Err(SchemeError::BadSpec(format!(
                "pbkdf2 digest {other:?} is not supported; use \"sha1\", \"sha256\" or \"sha512\""
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Prf::Sha1 => "sha1",
            Prf::Sha256 => "sha256",
            Prf::Sha512 => "sha512",
        }
    }

    fn output_len(self) -> usize {
        match self {
            Prf::Sha1 => 20,
            Prf::Sha256 => 32,
            Prf::Sha512 => 64,
        }
    }

    /// PBKDF2-HMAC with an output as long as the digest (what passlib and Django store).
    fn derive(self, password: &[u8], salt: &[u8], rounds: u32) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![0u8; self.output_len()]);
        match self {
            Prf::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, rounds, &mut out),
            Prf::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, rounds, &mut out),
            Prf::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, rounds, &mut out),
        }
        out
    }

    /// passlib's identifier: "$pbkdf2$" for sha1, "$pbkdf2-sha256$", "$pbkdf2-sha512$".
    fn passlib_ident(self) -> &'static str {
        match self {
            Prf::Sha1 => "pbkdf2",
            Prf::Sha256 => "pbkdf2-sha256",
            Prf::Sha512 => "pbkdf2-sha512",
        }
    }
}

/// Standard base64 alphabet, no padding written, padding optional when reading.
const B64_NOPAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// passlib "adapted base64": standard alphabet with '.' for '+', no padding.
fn ab64_encode(data: &[u8]) -> String {
    B64_NOPAD.encode(data).replace('+', ".")
}

fn ab64_decode(s: &str) -> Option<Vec<u8>> {
    if s.contains('+') {
        return None;
    }
    B64_NOPAD.decode(s.replace('.', "+")).ok()
}

fn check_rounds(rounds: u32, what: &str) -> Result<(), SchemeError> {
    if rounds == 0 {
        return Err(SchemeError::BadSpec(format!(
            "{what} rounds must be at least 1 (Odoo 17+ uses 600000)"
        )));
    }
    Ok(())
}

fn parse_rounds(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0')
    {
        return None;
    }
    s.parse().ok().filter(|&r| r > 0)
}

/// Parsed passlib string: (prf, rounds, salt, checksum).
pub(crate) fn parse_passlib(s: &str) -> Option<(Prf, u32, Vec<u8>, Vec<u8>)> {
    let rest = s.strip_prefix('$')?;
    let fields: Vec<&str> = rest.split('$').collect();
    let [ident, rounds, salt, checksum] = fields[..] else {
        return None;
    };
    let prf = [Prf::Sha1, Prf::Sha256, Prf::Sha512]
        .into_iter()
        .find(|p| p.passlib_ident() == ident)?;
    let rounds = parse_rounds(rounds)?;
    let salt = ab64_decode(salt)?;
    let checksum = ab64_decode(checksum)?;
    (checksum.len() == prf.output_len()).then_some((prf, rounds, salt, checksum))
}

#[derive(Debug)]
pub(crate) struct PasslibPbkdf2 {
    prf: Prf,
    rounds: u32,
    salt_bytes: usize,
}

impl PasslibPbkdf2 {
    pub(crate) fn new(digest: &str, rounds: u32, salt_bytes: usize) -> Result<Self, SchemeError> {
        let prf = Prf::parse(digest)?;
        check_rounds(rounds, "pbkdf2")?;
        if !(8..=1024).contains(&salt_bytes) {
            return Err(SchemeError::BadSpec(format!(
                "pbkdf2 salt_bytes {salt_bytes} is out of range; use 8..=1024 (passlib uses 16)"
            )));
        }
        Ok(PasslibPbkdf2 {
            prf,
            rounds,
            salt_bytes,
        })
    }
}

impl Scheme for PasslibPbkdf2 {
    fn id(&self) -> String {
        format!("{}${}", self.prf.passlib_ident(), self.rounds)
    }

    fn level(&self) -> super::Level {
        super::Level::VendorSource
    }

    constant_facts!(rules: NONE, bound_to_login: false, uses_salt_column: false);

    fn hash(&self, password: &Password, _account: &AccountInput) -> Result<Hashed, SchemeError> {
        self.rules().check(password)?;
        let salt = random_vec(self.salt_bytes)?;
        let dk = self
            .prf
            .derive(password.expose().as_bytes(), &salt, self.rounds);
        Ok(Hashed {
            stored: format!(
                "${}${}${}${}",
                self.prf.passlib_ident(),
                self.rounds,
                ab64_encode(&salt),
                ab64_encode(&dk)
            ),
            salt: None,
        })
    }

    fn verify(
        &self,
        password: &Password,
        _account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError> {
        let Some((prf, rounds, salt, checksum)) = parse_passlib(stored) else {
            return Err(SchemeError::Malformed(
                "not a passlib pbkdf2 string ($pbkdf2-sha512$rounds$salt$checksum)".into(),
            ));
        };
        let dk = prf.derive(password.expose().as_bytes(), &salt, rounds);
        Ok(ct_eq(&dk, &checksum))
    }

    fn has_shape(&self, stored: &str) -> bool {
        parse_passlib(stored).is_some_and(|(prf, ..)| prf == self.prf)
    }
}

/// Parsed Django string: (prf, iterations, salt, checksum).
pub(crate) fn parse_django(s: &str) -> Option<(Prf, u32, &str, Vec<u8>)> {
    let fields: Vec<&str> = s.split('$').collect();
    let [algo, rounds, salt, checksum] = fields[..] else {
        return None;
    };
    let prf = match algo {
        "pbkdf2_sha1" => Prf::Sha1,
        "pbkdf2_sha256" => Prf::Sha256,
        _ => return None,
    };
    let rounds = parse_rounds(rounds)?;
    if salt.is_empty() || salt.contains('$') {
        return None;
    }
    let checksum = base64::engine::general_purpose::STANDARD
        .decode(checksum)
        .ok()?;
    (checksum.len() == prf.output_len()).then_some((prf, rounds, salt, checksum))
}

#[derive(Debug)]
pub(crate) struct DjangoPbkdf2 {
    prf: Prf,
    rounds: u32,
}

impl DjangoPbkdf2 {
    pub(crate) fn new(digest: &str, rounds: u32) -> Result<Self, SchemeError> {
        let prf = Prf::parse(digest)?;
        if prf == Prf::Sha512 {
            return Err(SchemeError::BadSpec(
                "Django has no pbkdf2_sha512 hasher; use \"sha256\" (default) or \"sha1\"".into(),
            ));
        }
        check_rounds(rounds, "Django pbkdf2")?;
        Ok(DjangoPbkdf2 { prf, rounds })
    }

    fn algo(&self) -> String {
        format!("pbkdf2_{}", self.prf.name())
    }
}

impl Scheme for DjangoPbkdf2 {
    fn id(&self) -> String {
        format!("django-{}${}", self.algo(), self.rounds)
    }

    fn level(&self) -> super::Level {
        super::Level::VendorSource
    }

    constant_facts!(rules: NONE, bound_to_login: false, uses_salt_column: false);

    fn hash(&self, password: &Password, _account: &AccountInput) -> Result<Hashed, SchemeError> {
        self.rules().check(password)?;
        let salt = random_string(22, ALNUM)?;
        let dk = self
            .prf
            .derive(password.expose().as_bytes(), salt.as_bytes(), self.rounds);
        Ok(Hashed {
            stored: format!(
                "{}${}${salt}${}",
                self.algo(),
                self.rounds,
                base64::engine::general_purpose::STANDARD.encode(&dk)
            ),
            salt: None,
        })
    }

    fn verify(
        &self,
        password: &Password,
        _account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError> {
        let Some((prf, rounds, salt, checksum)) = parse_django(stored) else {
            return Err(SchemeError::Malformed(
                "not a Django pbkdf2 string (pbkdf2_sha256$iterations$salt$base64)".into(),
            ));
        };
        let dk = prf.derive(password.expose().as_bytes(), salt.as_bytes(), rounds);
        Ok(ct_eq(&dk, &checksum))
    }

    fn has_shape(&self, stored: &str) -> bool {
        parse_django(stored).is_some_and(|(prf, ..)| prf == self.prf)
    }
}

#[cfg(test)]
mod tests {
    use crate::schemes::{AccountInput, Scheme, SchemeError, SchemeSpec, build};
    use crate::secret::Password;

    fn pw(s: &str) -> Password {
        Password::new(s.into())
    }

    const A: AccountInput = AccountInput {
        login: "admin",
        salt: None,
    };

    fn passlib(digest: &str, rounds: u32) -> Box<dyn Scheme> {
        build(&SchemeSpec::Pbkdf2Passlib {
            digest: digest.into(),
            rounds,
            salt_bytes: 16,
        })
        .unwrap()
    }

    const ODOO_600K: &str = "$pbkdf2-sha512$600000$AAECAwQFBgcICQoLDA0ODw$1TcRz.JOhtcoU6lEDozCdEAEznaS1zS7S9JwW7K65dbb.JHnW/yiYxrsQLaF24sXmeRbSlcWjfcUsN1BQeqVBQ";
    const ODOO_25K: &str = "$pbkdf2-sha512$25000$AAECAwQFBgcICQoLDA0ODw$hzjCVDG9FELw2b5EEyih3Omxf8FRIQmndWjgpGGArUfNcobEKrNA0TCDqviQOUQRez/u2tkBEug55SdLU1CGvQ";

    #[test]
    fn odoo_600000_round_vector() {
        let s = passlib("sha512", 600_000);
        assert!(s.verify(&pw("Reset#2024"), &A, ODOO_600K).unwrap());
        assert!(s.has_shape(ODOO_600K));
    }

    #[test]
    fn odoo_25000_round_vector() {
        // The rounds come from the stored value, not from the configured scheme.
        let s = passlib("sha512", 600_000);
        assert!(s.verify(&pw("admin"), &A, ODOO_25K).unwrap());
        assert!(!s.verify(&pw("Admin"), &A, ODOO_25K).unwrap());
        assert!(s.has_shape(ODOO_25K));
        assert_eq!(s.id(), "pbkdf2-sha512$600000");
    }

    #[test]
    fn passlib_round_trips() {
        for digest in ["sha1", "sha256", "sha512"] {
            let s = passlib(digest, 1000);
            let p = pw("Pa$$ w'rd\"ü");
            let h = s.hash(&p, &A).unwrap();
            let ident = if digest == "sha1" {
                "$pbkdf2$1000$".to_string()
            } else {
                format!("$pbkdf2-{digest}$1000$")
            };
            assert!(h.stored.starts_with(&ident), "{}", h.stored);
            assert!(s.has_shape(&h.stored));
            assert!(s.verify(&p, &A, &h.stored).unwrap());
            assert!(!s.verify(&pw("Pa$$"), &A, &h.stored).unwrap());
            assert!(!h.stored.contains('+') && !h.stored.contains('='));
        }
        assert!(!passlib("sha256", 1000).has_shape(ODOO_25K));
    }

    #[test]
    fn django_round_trips_and_shape() {
        for digest in ["sha256", "sha1"] {
            let s = build(&SchemeSpec::Pbkdf2Django {
                digest: digest.into(),
                rounds: 1000,
            })
            .unwrap();
            let p = pw("Pa$$ w'rd\"ü");
            let h = s.hash(&p, &A).unwrap();
            assert!(h.stored.starts_with(&format!("pbkdf2_{digest}$1000$")));
            assert_eq!(h.stored.split('$').nth(2).unwrap().len(), 22);
            assert!(s.has_shape(&h.stored));
            assert!(s.verify(&p, &A, &h.stored).unwrap());
            assert!(!s.verify(&pw("x"), &A, &h.stored).unwrap());
            assert!(!s.has_shape(ODOO_25K));
        }
        // passlib django_pbkdf2_sha256.using(salt="seasalt", rounds=100).hash("lètmein")
        let s = build(&SchemeSpec::Pbkdf2Django {
            digest: "sha256".into(),
            rounds: 1000,
        })
        .unwrap();
        let v = "pbkdf2_sha256$100$seasalt$YIOeIESlan/xfRGpqiCRdjjBEbxPJtEDn6VoZCfhLrA=";
        assert!(s.verify(&pw("lètmein"), &A, v).unwrap());
        assert!(!s.verify(&pw("letmein"), &A, v).unwrap());
    }

    #[test]
    fn spec_and_malformed_checks() {
        assert!(passlib_err("md5", 1000, 16));
        assert!(passlib_err("sha512", 0, 16));
        assert!(passlib_err("sha512", 1000, 4));
        assert!(
            build(&SchemeSpec::Pbkdf2Django {
                digest: "sha512".into(),
                rounds: 1000
            })
            .is_err()
        );
        let s = passlib("sha512", 1000);
        for bad in [
            "",
            "$pbkdf2-sha512$0$AAECAwQFBgcICQoLDA0ODw$hzjC",
            "$pbkdf2-sha512$25000$AAECAwQFBgcICQoLDA0ODw$hzjCVDG9",
            "$pbkdf2-sha512$25000$AAECAwQFBgcICQoLDA0ODw",
            "$2y$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS",
        ] {
            assert!(!s.has_shape(bad), "{bad}");
            assert!(matches!(
                s.verify(&pw("x"), &A, bad),
                Err(SchemeError::Malformed(_))
            ));
        }
    }

    fn passlib_err(digest: &str, rounds: u32, salt_bytes: usize) -> bool {
        build(&SchemeSpec::Pbkdf2Passlib {
            digest: digest.into(),
            rounds,
            salt_bytes,
        })
        .is_err()
    }
}
