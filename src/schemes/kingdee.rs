//! Kingdee K/3 WISE `t_User.FSID`. Known ONLY from third-party code: the
//! public generator `1719513357/KDPasswordGenerator` (its README: tested on
//! K/3 WISE 14.2.0) — a fixed 50-character head, then a per-character lookup
//! table of 6 columns with four special rules. Locksmith does not carry that
//! table. Read as bits, the table is a plain 6-bit text encoding: every 6 bits,
//! most significant first, become the character `0x20 + value`, over the
//! UTF-16LE bytes of a fixed 19-character text followed by the password. The
//! head is that text's encoding (it decodes to it); the table's six columns are
//! the six ways a 16-bit character falls on 6-bit boundaries; the special rules
//! are where a 6-bit group is shared by two characters. Computing the encoding
//! reproduces the public "123" vector (closed-systems.md §1.1) and needs no
//! table. Where the generator's table breaks its own pattern (a missing space
//! in the cells of `B` and `/` at the second position of a group of three, an
//! extra space in `+`'s third-position cell) it is taken for a typo and the
//! pattern is followed: such a cell would shift every later character.
//!
//! The value does not depend on the user (no id, no salt), so a transplant of
//! FSID between accounts is possible, and a reset writes FSID alone. Trailing
//! spaces are the final group's zero padding; the generator is not consistent
//! about them, and SQL Server's `=` (which the K/3 login uses to compare FSID,
//! according to the KIS WebAPI doc's "send the FSID, not the password") ignores
//! them, so `verify` compares without trailing spaces.
//!
//! This is a third-party scheme ([`super::Level::ThirdParty`]): a reset with it
//! is refused until `calibrate` has reproduced a known account's FSID on the
//! same target (`ops::protocol::encoder_gate`).

use super::{AccountInput, Hashed, Level, PasswordRules, Scheme, SchemeError, ct_eq};
use crate::secret::Password;
use zeroize::Zeroizing;

/// The fixed text whose encoding is the generator's 50-character head.
const HEAD_TEXT: &str = "$&#346+dianhq#whme%";

/// How many characters of the encoding belong to the head alone (its 304 bits
/// fill 50 groups; the 51st is shared with the password's first character).
const HEAD_CHARS: usize = 50;

#[derive(Debug)]
pub(crate) struct KingdeeFsid {
    /// false: the head is left out (a third-party variant does so for versions
    /// before 11; unconfirmed on a live system).
    head: bool,
}

impl KingdeeFsid {
    pub(crate) fn new(head: bool) -> Self {
        KingdeeFsid { head }
    }

    /// The FSID of `password`: the 6-bit encoding of UTF-16LE(head text +
    /// password), without the head's 50 characters when `head` is false.
    fn encode(&self, password: &str) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(2 * (HEAD_TEXT.len() + password.len())));
        for unit in HEAD_TEXT.encode_utf16().chain(password.encode_utf16()) {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let mut out = Zeroizing::new(String::with_capacity(bytes.len() * 8 / 6 + 1));
        // A bit accumulator: `pending` low bits of `acc` wait for the next group.
        let (mut acc, mut pending) = (0u32, 0u32);
        for b in bytes.iter() {
            acc = (acc << 8) | u32::from(*b);
            pending += 8;
            while pending >= 6 {
                pending -= 6;
                out.push(sextet((acc >> pending) & 0x3f));
            }
            acc &= (1 << pending) - 1;
        }
        if pending > 0 {
            out.push(sextet((acc << (6 - pending)) & 0x3f));
        }
        if !self.head {
            out.drain(..HEAD_CHARS);
        }
        out
    }

    /// The head every FSID this scheme writes starts with.
    fn head_chars(&self) -> String {
        if self.head {
            self.encode("").chars().take(HEAD_CHARS).collect()
        } else {
            String::new()
        }
    }
}

fn sextet(v: u32) -> char {
    // v < 64, so 0x20 + v is printable ASCII (' ' to '_').
    char::from(0x20 + (v as u8))
}

impl Scheme for KingdeeFsid {
    fn id(&self) -> String {
        if self.head {
            "kingdee-fsid".into()
        } else {
            "kingdee-fsid:no-head".into()
        }
    }

    fn level(&self) -> Level {
        Level::ThirdParty
    }

    fn rules(&self) -> PasswordRules {
        PasswordRules {
            max_bytes: None,
            printable_ascii_only: true,
        }
    }

    fn bound_to_login(&self) -> bool {
        false
    }

    fn uses_salt_column(&self) -> bool {
        false
    }

    fn hash(&self, password: &Password, _account: &AccountInput) -> Result<Hashed, SchemeError> {
        self.rules().check(password)?;
        // The generator's table has no row for the space character.
        if password.expose().contains(' ') {
            return Err(SchemeError::Space);
        }
        Ok(Hashed {
            stored: self.encode(password.expose()).to_string(),
            salt: None,
        })
    }

    fn verify(
        &self,
        password: &Password,
        _account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError> {
        let p = password.expose();
        if p.is_empty() || p.contains('\0') {
            return Ok(false);
        }
        let ours = self.encode(p);
        Ok(ct_eq(
            ours.trim_end_matches(' ').as_bytes(),
            stored.trim_end_matches(' ').as_bytes(),
        ))
    }

    fn has_shape(&self, stored: &str) -> bool {
        let head = self.head_chars();
        stored.len() > head.len()
            && stored.starts_with(&head)
            && stored.bytes().all(|b| (0x20..=0x5f).contains(&b))
    }
}

/// Does `stored` start with the generator's head (for `hash detect`)?
pub(crate) fn looks_like_fsid(stored: &str) -> bool {
    KingdeeFsid::new(true).has_shape(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator's head as the reference quotes it (closed-systems.md §1.1).
    const HEAD: &str = ")  F \", ,P T #8 *P!D &D 80!N &@ <0 C '< : !M &4 )0";

    fn input() -> AccountInput<'static> {
        AccountInput {
            login: "administrator",
            salt: None,
        }
    }

    #[test]
    fn the_public_123_vector_and_the_head() {
        let s = KingdeeFsid::new(true);
        assert_eq!(HEAD.len(), 50);
        assert_eq!(s.head_chars(), HEAD);
        let h = s.hash(&Password::new("123".into()), &input()).unwrap();
        assert_eq!(h.stored, format!("{HEAD} Q #( ,P "));
        assert_eq!(h.stored.len(), 59);
        assert!(s.has_shape(&h.stored));
        assert!(
            s.verify(&Password::new("123".into()), &input(), &h.stored)
                .unwrap()
        );
        // SQL Server pads and trims trailing spaces; either form is accepted.
        let trimmed = h.stored.trim_end();
        assert!(
            s.verify(&Password::new("123".into()), &input(), trimmed)
                .unwrap()
        );
        assert!(
            !s.verify(&Password::new("124".into()), &input(), &h.stored)
                .unwrap()
        );
        assert!(
            !s.verify(&Password::new("1234".into()), &input(), &h.stored)
                .unwrap()
        );
        assert_eq!(s.level(), Level::ThirdParty);
    }

    #[test]
    fn the_variant_without_head_keeps_the_substitution_alone() {
        let s = KingdeeFsid::new(false);
        let h = s.hash(&Password::new("123".into()), &input()).unwrap();
        assert_eq!(h.stored, " Q #( ,P ");
        assert_eq!(s.id(), "kingdee-fsid:no-head");
        assert!(s.has_shape(&h.stored));
    }

    #[test]
    fn refuses_what_the_table_cannot_encode() {
        let s = KingdeeFsid::new(true);
        for p in ["a b", "密码", "", "tab\there"] {
            assert!(s.hash(&Password::new(p.into()), &input()).is_err(), "{p:?}");
        }
        assert!(!s.has_shape("2jmj7l5rSw0yVb/vlWAYkK/YBwk="));
        assert!(!s.has_shape(HEAD));
        assert!(looks_like_fsid(&format!("{HEAD} Q ")));
    }
}
