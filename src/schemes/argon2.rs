//! Argon2 PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), as written by
//! PHP `password_hash(PASSWORD_ARGON2ID)` and argon2-cffi.

use super::{AccountInput, Hashed, Scheme, SchemeError, constant_facts};
use crate::secret::{Password, random_bytes};
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

#[derive(Debug)]
pub(crate) struct Argon2Scheme {
    algorithm: Algorithm,
    params: Params,
}

impl Argon2Scheme {
    pub(crate) fn new(
        variant: &str,
        m_cost: u32,
        t_cost: u32,
        p_cost: u32,
    ) -> Result<Self, SchemeError> {
        let algorithm = match variant {
            "argon2id" => Algorithm::Argon2id,
            "argon2i" => Algorithm::Argon2i,
            other => {
                return Err(SchemeError::BadSpec(format!(
                    "argon2 variant {other:?} is not supported; use \"argon2id\" or \"argon2i\""
                )));
            }
        };
        let params = Params::new(m_cost, t_cost, p_cost, None).map_err(|e| {
            SchemeError::BadSpec(format!(
                "argon2 parameters m_cost={m_cost} KiB, t_cost={t_cost}, p_cost={p_cost} are \
                 invalid ({e}); PHP's defaults are m_cost=65536, t_cost=4, p_cost=1"
            ))
        })?;
        Ok(Argon2Scheme { algorithm, params })
    }

    fn hasher(&self) -> Argon2<'static> {
        Argon2::new(self.algorithm, Version::V0x13, self.params.clone())
    }
}

impl Scheme for Argon2Scheme {
    fn id(&self) -> String {
        format!(
            "{}$m={},t={},p={}",
            self.algorithm.ident(),
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost()
        )
    }

    fn level(&self) -> super::Level {
        super::Level::VendorSource
    }

    constant_facts!(rules: NONE, bound_to_login: false, uses_salt_column: false);

    fn hash(&self, password: &Password, _account: &AccountInput) -> Result<Hashed, SchemeError> {
        self.rules().check(password)?;
        let salt = random_bytes::<16>()?;
        let hash = self
            .hasher()
            .hash_password_with_salt(password.expose().as_bytes(), &salt)
            .map_err(|e| SchemeError::Library(format!("argon2: {e}")))?;
        Ok(Hashed {
            stored: hash.to_string(),
            salt: None,
        })
    }

    fn verify(
        &self,
        password: &Password,
        _account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError> {
        let parsed = PasswordHash::new(stored).map_err(|_| {
            SchemeError::Malformed(
                "not an argon2 PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)".into(),
            )
        })?;
        if Algorithm::try_from(parsed.algorithm.as_str()).is_err() {
            return Err(SchemeError::Malformed(
                "the PHC string is not argon2i/argon2id/argon2d".into(),
            ));
        }
        // The parameters and variant come from the stored string.
        match Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(SchemeError::Malformed(format!(
                "the argon2 string does not decode ({e})"
            ))),
        }
    }

    fn has_shape(&self, stored: &str) -> bool {
        match PasswordHash::new(stored) {
            Ok(h) => {
                h.algorithm == self.algorithm.ident()
                    && h.salt.is_some()
                    && h.hash.is_some()
                    && Params::try_from(&h).is_ok()
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::schemes::{AccountInput, SchemeError, SchemeSpec, build};
    use crate::secret::Password;

    const A: AccountInput = AccountInput {
        login: "admin",
        salt: None,
    };

    fn scheme(variant: &str) -> Box<dyn crate::schemes::Scheme> {
        build(&SchemeSpec::Argon2 {
            variant: variant.into(),
            m_cost: 256,
            t_cost: 2,
            p_cost: 1,
        })
        .unwrap()
    }

    #[test]
    fn round_trip_both_variants() {
        for v in ["argon2id", "argon2i"] {
            let s = scheme(v);
            let p = Password::new("Reset#2024 ü'\"".into());
            let h = s.hash(&p, &A).unwrap();
            assert!(
                h.stored.starts_with(&format!("${v}$v=19$m=256,t=2,p=1$")),
                "{}",
                h.stored
            );
            assert!(s.has_shape(&h.stored));
            assert!(s.verify(&p, &A, &h.stored).unwrap());
            assert!(
                !s.verify(&Password::new("Reset#2025".into()), &A, &h.stored)
                    .unwrap()
            );
            assert_eq!(s.id(), format!("{v}$m=256,t=2,p=1"));
        }
        let id = scheme("argon2id")
            .hash(&Password::new("x".into()), &A)
            .unwrap();
        assert!(!scheme("argon2i").has_shape(&id.stored));
    }

    #[test]
    fn known_vectors_from_argon2_cffi() {
        // argon2-cffi 25.1: PasswordHasher(time_cost=2, memory_cost=256, parallelism=1,
        // type=ID / I).hash("Reset#2024", salt=b"0123456789abcdef")
        let p = Password::new("Reset#2024".into());
        let id = "$argon2id$v=19$m=256,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$iGsJ1/2suhpEOAhsQjMGA7ZbQyDaEqBj/b84a7Vz8VE";
        let i = "$argon2i$v=19$m=256,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$8sQewQ7fSKeouAz6AFySWEdV4aJrDlW6Ax2rwf2Rg5c";
        // verify follows the stored variant, whatever the configured one.
        for s in [scheme("argon2id"), scheme("argon2i")] {
            assert!(s.verify(&p, &A, id).unwrap());
            assert!(s.verify(&p, &A, i).unwrap());
            assert!(
                !s.verify(&Password::new("reset#2024".into()), &A, id)
                    .unwrap()
            );
        }
        assert!(scheme("argon2id").has_shape(id));
        assert!(!scheme("argon2id").has_shape(i));
        assert!(scheme("argon2i").has_shape(i));
    }

    #[test]
    fn shape_and_spec_checks() {
        let s = scheme("argon2id");
        assert!(!s.has_shape("$2y$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS"));
        assert!(!s.has_shape("0182b57e430540dbf1084a834c0a4f7b"));
        assert!(matches!(
            s.verify(&Password::new("x".into()), &A, "nope"),
            Err(SchemeError::Malformed(_))
        ));
        assert!(
            build(&SchemeSpec::Argon2 {
                variant: "argon2d".into(),
                m_cost: 256,
                t_cost: 2,
                p_cost: 1
            })
            .is_err()
        );
        assert!(
            build(&SchemeSpec::Argon2 {
                variant: "argon2id".into(),
                m_cost: 1,
                t_cost: 2,
                p_cost: 1
            })
            .is_err()
        );
    }
}
