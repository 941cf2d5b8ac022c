//! No password in the database (Dynamics CRM on-premises: Active Directory or
//! claims sign in). Locksmith can neither hash nor verify, and nothing is
//! stored to transplant: the connector maps no password column, resets are
//! refused (with what to do in the directory), and restore-admin only
//! re-enables the user and re-links its role.

use super::{AccountInput, Hashed, Scheme, SchemeError, constant_facts};
use crate::secret::Password;

#[derive(Debug)]
pub(crate) struct DirectoryScheme;

impl Scheme for DirectoryScheme {
    fn id(&self) -> String {
        "directory".into()
    }

    /// Microsoft's own documentation says where the password lives (Active
    /// Directory); nothing here is guessed, and nothing is written.
    fn level(&self) -> super::Level {
        super::Level::VendorSource
    }

    constant_facts!(rules: NONE, bound_to_login: false, uses_salt_column: false);

    fn hash(&self, _password: &Password, _account: &AccountInput) -> Result<Hashed, SchemeError> {
        Err(SchemeError::Directory)
    }

    fn verify(
        &self,
        _password: &Password,
        _account: &AccountInput,
        _stored: &str,
    ) -> Result<bool, SchemeError> {
        Err(SchemeError::Directory)
    }

    /// There is no stored value: an empty one is what this scheme "writes".
    fn has_shape(&self, stored: &str) -> bool {
        stored.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use crate::schemes::{AccountInput, SchemeError, SchemeSpec, build};
    use crate::secret::Password;

    #[test]
    fn cannot_hash_or_verify_and_says_where_the_password_is() {
        let s = build(&SchemeSpec::Directory { note: None }).unwrap();
        let a = AccountInput {
            login: "CONTOSO\\admin",
            salt: None,
        };
        let p = Password::new("Reset#2024".into());
        assert!(matches!(s.hash(&p, &a), Err(SchemeError::Directory)));
        assert!(matches!(s.verify(&p, &a, ""), Err(SchemeError::Directory)));
        assert!(
            SchemeError::Directory
                .to_string()
                .contains("Active Directory")
        );
        assert!(s.has_shape(""));
        assert!(!s.has_shape("x"));
        assert_eq!(s.id(), "directory");
    }
}
