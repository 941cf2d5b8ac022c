//! Secrets held in memory: new passwords and anything derived from them.
//!
//! A `Password` zeroizes on drop and never prints itself, so it cannot leak
//! through `{:?}` into logs, error text or the journal.

use std::fmt;
use zeroize::Zeroizing;

/// Printable ASCII without space: safe to type on any keyboard layout, and
/// within every vendor's limits (JeecgBoot needs printable ASCII, bcrypt 72 bytes).
pub const PRINTABLE_NO_SPACE: &[u8] = b"!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// Generated passwords avoid look-alike characters (0/O, 1/l/I) and quoting
/// characters, because an operator reads them off a screen under pressure.
pub const GENERATED_ALPHABET: &[u8] =
    b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz!#%+-=?@^_";

pub const HEX_LOWER: &[u8] = b"0123456789abcdef";
pub const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

/// A password in memory. Zeroized on drop; `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(value: String) -> Self {
        Password(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh password from the OS CSPRNG.
    pub fn generate(length: usize) -> Result<Self, RandomError> {
        Ok(Password::new(random_string(length, GENERATED_ALPHABET)?))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// `length` characters drawn uniformly from `alphabet` with the OS CSPRNG.
/// Rejection sampling keeps the distribution unbiased for any alphabet size.
pub fn random_string(length: usize, alphabet: &[u8]) -> Result<String, RandomError> {
    assert!(
        !alphabet.is_empty() && alphabet.len() <= 256,
        "alphabet must have 1..=256 symbols"
    );
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(length);
    let mut buf = [0u8; 64];
    while out.len() < length {
        getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
        for &b in &buf {
            if (b as usize) < limit && out.len() < length {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

/// Raw random bytes from the OS CSPRNG (salts, keys).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_use_only_the_alphabet_and_differ() {
        let a = Password::generate(20).unwrap();
        let b = Password::generate(20).unwrap();
        assert_eq!(a.expose().len(), 20);
        assert!(a.expose().bytes().all(|c| GENERATED_ALPHABET.contains(&c)));
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::new("Reset#2024".into());
        assert!(!format!("{p:?}").contains("Reset"));
    }

    #[test]
    fn random_string_covers_small_alphabets_uniformly_enough() {
        let s = random_string(6000, b"abc").unwrap();
        for c in ['a', 'b', 'c'] {
            let n = s.chars().filter(|&x| x == c).count();
            assert!((1700..2300).contains(&n), "{c}: {n}");
        }
    }
}
