//! Closed formats (Yonyou U8 `cPassword`, Kingdee `FSID`): the algorithm is
//! unknown, so locksmith can neither hash nor verify. The only possible reset
//! is a transplant: copy a value captured for a known password.
//!
//! Whether such a value depends on the user id is unknown too; the vendor
//! reference says to check on a test instance first. `bound_to_login` is
//! false so a transplant is not refused; connectors that learn otherwise
//! should say so in their notes.

use super::{AccountInput, Hashed, Scheme, SchemeError, constant_facts};
use crate::secret::Password;

#[derive(Debug)]
pub(crate) struct OpaqueScheme {
    note: Option<String>,
}

impl OpaqueScheme {
    pub(crate) fn new(note: Option<String>) -> Self {
        OpaqueScheme { note }
    }

    /// The connector's note about the format, if any.
    #[allow(dead_code)]
    pub(crate) fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }
}

impl Scheme for OpaqueScheme {
    fn id(&self) -> String {
        "opaque".into()
    }

    fn level(&self) -> super::Level {
        super::Level::Closed
    }

    constant_facts!(rules: NONE, bound_to_login: false, uses_salt_column: false);

    fn hash(&self, _password: &Password, _account: &AccountInput) -> Result<Hashed, SchemeError> {
        Err(SchemeError::Opaque)
    }

    fn verify(
        &self,
        _password: &Password,
        _account: &AccountInput,
        _stored: &str,
    ) -> Result<bool, SchemeError> {
        Err(SchemeError::Opaque)
    }

    fn has_shape(&self, stored: &str) -> bool {
        !stored.is_empty()
    }

    fn opaque_values(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::schemes::{AccountInput, SchemeError, SchemeSpec, build};
    use crate::secret::Password;

    #[test]
    fn cannot_hash_or_verify() {
        let s = build(&SchemeSpec::Opaque {
            note: Some("Yonyou U8 clsLogin.EnPassWord".into()),
        })
        .unwrap();
        let a = AccountInput {
            login: "demo",
            salt: None,
        };
        let p = Password::new("Reset#2024".into());
        assert!(matches!(s.hash(&p, &a), Err(SchemeError::Opaque)));
        assert!(matches!(s.verify(&p, &a, "x"), Err(SchemeError::Opaque)));
        assert!(SchemeError::Opaque.to_string().contains("transplant"));
        assert!(s.has_shape("2jmj7l5rSw0yVb/vlWAYkK/YBwk="));
        assert!(!s.has_shape(""));
        assert_eq!(s.id(), "opaque");
        assert!(!s.bound_to_login() && !s.uses_salt_column());
    }
}
