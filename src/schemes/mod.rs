//! Password scheme registry: every vendor format locksmith can write or check.
//!
//! A connector describes its format with a [`SchemeSpec`] (the TOML `[scheme]`
//! table); [`build`] turns it into a [`Scheme`] that hashes new passwords,
//! verifies candidates and recognises stored values. [`detect`] guesses the
//! format of an arbitrary stored value.
//!
//! Nothing here ever puts a password, a derived value or a stored hash into an
//! error message: errors say what to fix, not what was seen.
//!
//! Source-checked formats and vectors: `vendor-password-formats.md`.

mod argon2;
mod bcrypt;
mod crypt;
mod detect;
mod digest;
mod directory;
pub mod external;
mod jeecg;
mod kingdee;
mod opaque;
mod pbkdf2;

use crate::secret::{ALNUM, HEX_LOWER, Password, RandomError};
use subtle::ConstantTimeEq;

pub use detect::{Candidate, detect};
pub use jeecg::JEECG_SALT_ALPHABET;

/// The settings of sha256-crypt and sha512-crypt: `input` recipe optional
/// (EspoCRM legacy: md5(password)); `salt` a fixed salt string (EspoCRM legacy
/// passwordSalt) or None = random 16 chars; `strip_prefix` true => the stored
/// value has the "$6$salt$" prefix removed; rounds None = default (5000),
/// Some(n) writes "rounds=n$".
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShaCryptSpec {
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub salt: Option<String>,
    #[serde(default)]
    pub rounds: Option<u32>,
    #[serde(default)]
    pub strip_prefix: bool,
}

/// What a connector's TOML `[scheme]` table deserializes into.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
// deny_unknown_fields on an internally tagged enum applies to every variant.
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SchemeSpec {
    /// bcrypt; `prefix` one of "2a","2b","2y"; `cost` 4..=31; `input` an optional
    /// recipe applied to the password first (SuiteCRM: "md5(password)").
    Bcrypt {
        prefix: String,
        cost: u32,
        #[serde(default)]
        input: Option<String>,
    },
    /// PHC argon2 strings; variant "argon2id" | "argon2i"; m_cost (KiB), t_cost, p_cost.
    Argon2 {
        variant: String,
        m_cost: u32,
        t_cost: u32,
        p_cost: u32,
    },
    /// Composable digest recipe over password/login/salt/literals,
    /// e.g. "md5(login + password + 'erp' + salt)".
    Digest {
        recipe: String,
        #[serde(default)]
        salt: Option<SaltRule>,
    },
    /// "$1$" md5-crypt; `input` recipe optional; `salt` fixed salt or None = random 8 chars.
    Md5Crypt {
        #[serde(default)]
        input: Option<String>,
        #[serde(default)]
        salt: Option<String>,
    },
    /// "$5$" sha256-crypt; see [`ShaCryptSpec`].
    Sha256Crypt(ShaCryptSpec),
    /// "$6$" sha512-crypt; see [`ShaCryptSpec`].
    Sha512Crypt(ShaCryptSpec),
    /// passlib "$pbkdf2-sha512$rounds$ab64salt$ab64hash" (also -sha256, and
    /// "$pbkdf2$" for sha1); digest "sha1"|"sha256"|"sha512"; salt_bytes default 16.
    Pbkdf2Passlib {
        digest: String,
        rounds: u32,
        #[serde(default = "default_salt_bytes")]
        salt_bytes: usize,
    },
    /// Django "pbkdf2_sha256$iterations$salt$base64hash" (and pbkdf2_sha1); salt = 22 chars alnum.
    Pbkdf2Django { digest: String, rounds: u32 },
    /// JeecgBoot PBEWithMD5AndDES: hex_lower(DES-CBC(key/IV from
    /// PBKDF1-MD5(password||salt, iterations)) of login UTF-8), salt 8 chars.
    JeecgPbe {
        #[serde(default = "default_jeecg_iterations")]
        iterations: u32,
        salt: SaltRule,
    },
    /// Kingdee K/3 WISE `FSID`, known only from third-party code (calibration-gated);
    /// `prefix` false leaves out the fixed 50-character head (a third-party
    /// variant does so before version 11; unconfirmed).
    KingdeeFsid {
        #[serde(default = "default_true")]
        prefix: bool,
    },
    /// Closed formats (Yonyou U8, Kingdee K/3 Cloud): cannot hash or verify; only transplant.
    Opaque {
        #[serde(default)]
        note: Option<String>,
    },
    /// No password in the database (Active Directory / claims sign-in, as in
    /// Dynamics CRM on-premises): the connector maps no password column.
    Directory {
        #[serde(default)]
        note: Option<String>,
    },
}

fn default_true() -> bool {
    true
}

fn default_salt_bytes() -> usize {
    16
}

fn default_jeecg_iterations() -> u32 {
    1000
}

/// How a separate salt column is regenerated.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SaltRule {
    pub length: usize,
    /// "hex" (lowercase), "HEX", "alnum", or the literal characters to draw from.
    pub alphabet: String,
}

impl SaltRule {
    /// The characters this rule draws from, validated.
    fn symbols(&self) -> Result<Vec<u8>, SchemeError> {
        let symbols: Vec<u8> = match self.alphabet.as_str() {
            "hex" => HEX_LOWER.to_vec(),
            "HEX" => b"0123456789ABCDEF".to_vec(),
            "alnum" => ALNUM.to_vec(),
            other => {
                if other.is_empty() || !other.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                    return Err(SchemeError::BadSpec(
                        "salt.alphabet must be \"hex\", \"HEX\", \"alnum\" or a non-empty list of \
                         printable ASCII characters without spaces"
                            .into(),
                    ));
                }
                let mut seen = [false; 128];
                for b in other.bytes() {
                    if std::mem::replace(&mut seen[b as usize], true) {
                        return Err(SchemeError::BadSpec(format!(
                            "salt.alphabet lists the character {:?} twice; each character must \
                             appear once so salts stay uniform",
                            b as char
                        )));
                    }
                }
                other.as_bytes().to_vec()
            }
        };
        if self.length == 0 || self.length > 256 {
            return Err(SchemeError::BadSpec(format!(
                "salt.length is {}; it must be between 1 and 256",
                self.length
            )));
        }
        Ok(symbols)
    }
}

/// How much is known about a scheme, shown with it (`connectors list`, `hash
/// detect`, plans). A third-party scheme is calibration-gated like an external
/// encoder: no reset until `calibrate` reproduced a known account's value on
/// the same target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Checked against the vendor's own source and its test vectors.
    VendorSource,
    /// Known only from third-party code (a reimplementation, not the vendor's).
    ThirdParty,
    /// Closed: Locksmith cannot hash or verify; transplant or backup restore only.
    Closed,
    /// An external program the operator names (wrapping the vendor's library).
    External,
}

impl Level {
    /// The level's name in output and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::VendorSource => "vendor-source",
            Level::ThirdParty => "third-party",
            Level::Closed => "closed",
            Level::External => "external",
        }
    }

    /// Writes with such a scheme need a matching calibration on the target first.
    pub fn calibration_gated(self) -> bool {
        matches!(self, Level::ThirdParty | Level::External)
    }
}

/// What a scheme needs to know about the account besides the password.
pub struct AccountInput<'a> {
    pub login: &'a str,
    pub salt: Option<&'a str>,
}

/// A freshly computed value to store; `salt` is Some when the scheme keeps its
/// salt in a separate column (digest recipes with a SaltRule, jeecg) and it was regenerated.
#[derive(Debug, Clone, PartialEq)]
pub struct Hashed {
    pub stored: String,
    pub salt: Option<String>,
}

/// Limits a new password must satisfy for this scheme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PasswordRules {
    pub max_bytes: Option<usize>,
    pub printable_ascii_only: bool,
}

impl PasswordRules {
    const NONE: PasswordRules = PasswordRules {
        max_bytes: None,
        printable_ascii_only: false,
    };

    /// Checks `password` against these rules (and refuses NUL bytes, which C
    /// implementations of crypt/bcrypt treat as the end of the password).
    pub fn check(&self, password: &Password) -> Result<(), SchemeError> {
        let p = password.expose();
        if p.is_empty() {
            return Err(SchemeError::EmptyPassword);
        }
        if p.as_bytes().contains(&0) {
            return Err(SchemeError::NulByte);
        }
        if self.printable_ascii_only && !p.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(SchemeError::NotPrintableAscii);
        }
        if let Some(max) = self.max_bytes
            && p.len() > max
        {
            return Err(SchemeError::PasswordTooLong { max, got: p.len() });
        }
        Ok(())
    }
}

/// Why a scheme could not be built or could not hash/verify.
///
/// Messages say what to fix; they never contain the password or the stored value.
#[derive(Debug, thiserror::Error)]
pub enum SchemeError {
    #[error(
        "the password is {got} bytes long but this scheme only uses the first {max} bytes; \
         choose a password of at most {max} bytes"
    )]
    PasswordTooLong { max: usize, got: usize },
    #[error(
        "this scheme accepts only printable ASCII passwords (space to '~'); choose a password \
         without accents, emoji or control characters"
    )]
    NotPrintableAscii,
    #[error(
        "this scheme's third-party table has no entry for the space character; choose a \
         password without spaces"
    )]
    Space,
    #[error("the password is empty; choose a non-empty password")]
    EmptyPassword,
    #[error("the password contains a NUL byte, which the vendor would silently cut off; remove it")]
    NulByte,
    #[error("bad recipe `{recipe}`: {reason}")]
    BadRecipe { recipe: String, reason: String },
    #[error("bad scheme specification: {0}")]
    BadSpec(String),
    #[error(
        "this vendor's password format is closed (opaque): locksmith cannot hash or verify it; \
         copy (transplant) a stored value whose password you know instead \
         (`reset ACCOUNT --from DONOR`), or name an external encoder that wraps the vendor's \
         library (`--encoder PROGRAM`) and calibrate it"
    )]
    Opaque,
    #[error(
        "this vendor keeps no password in its database: sign-in is Active Directory (or claims); \
         reset the password in Active Directory (Active Directory Users and Computers, or \
         Set-ADAccountPassword), not here"
    )]
    Directory,
    #[error(
        "this scheme needs the account's salt column value, but none was given; read the salt \
         column together with the password column"
    )]
    MissingSalt,
    /// An external encoder failed; the text never holds its input or output.
    #[error("{0}")]
    Encoder(String),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error("stored value is malformed: {0}")]
    Malformed(String),
    #[error("the hashing library refused the input: {0}")]
    Library(String),
}

/// One password format.
///
/// `verify` returns `Ok(false)` on a mismatch. For structured formats (bcrypt,
/// argon2, crypt, pbkdf2) it returns `Err(Malformed)` when `stored` cannot be
/// parsed at all; call `has_shape` first to tell these apart cheaply.
pub trait Scheme: Send + Sync + std::fmt::Debug {
    /// Short id for plans and the journal, e.g. "bcrypt$2a$10",
    /// "digest:md5(login+password+'erp'+salt)", "jeecg-pbe", "opaque".
    fn id(&self) -> String;
    /// How much is known about this format (vendor source, third-party, closed).
    fn level(&self) -> Level;
    fn rules(&self) -> PasswordRules;
    /// true when the stored value depends on the login (so a value cannot be
    /// transplanted between accounts).
    fn bound_to_login(&self) -> bool;
    /// true when the scheme keeps a salt in a separate column that `hash` regenerates.
    fn uses_salt_column(&self) -> bool;
    /// Fresh value (+ fresh salt where applicable) for this account; checks `rules()` first.
    fn hash(&self, password: &Password, account: &AccountInput) -> Result<Hashed, SchemeError>;
    /// Does `stored` (with the account's salt column value, if any) accept
    /// `password`? Constant-time compare where we recompute.
    fn verify(
        &self,
        password: &Password,
        account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError>;
    /// Does `stored` look like a value this scheme writes (length, alphabet,
    /// prefix, cost/rounds parse)?
    fn has_shape(&self, stored: &str) -> bool;
    /// true when Locksmith cannot tell a well-formed stored value from any
    /// other non-empty string (closed formats, external encoders): a
    /// transplant then compares the two values' length and character class.
    fn opaque_values(&self) -> bool {
        false
    }
}

/// `rules`, `bound_to_login` and `uses_salt_column` for a scheme whose answers
/// are constants: `constant_facts!(rules: NONE, bound_to_login: false, uses_salt_column: false);`
/// inside its `impl Scheme`. The trait keeps them required, so every scheme
/// still states each fact; this only spares the three bodies.
macro_rules! constant_facts {
    (rules: $rules:ident, bound_to_login: $bound:literal, uses_salt_column: $salt:literal) => {
        fn rules(&self) -> $crate::schemes::PasswordRules {
            $crate::schemes::PasswordRules::$rules
        }

        fn bound_to_login(&self) -> bool {
            $bound
        }

        fn uses_salt_column(&self) -> bool {
            $salt
        }
    };
}
pub(crate) use constant_facts;

/// Builds the scheme a connector asked for, validating every parameter.
pub fn build(spec: &SchemeSpec) -> Result<Box<dyn Scheme>, SchemeError> {
    Ok(match spec {
        SchemeSpec::Bcrypt {
            prefix,
            cost,
            input,
        } => Box::new(bcrypt::BcryptScheme::new(prefix, *cost, input.as_deref())?),
        SchemeSpec::Argon2 {
            variant,
            m_cost,
            t_cost,
            p_cost,
        } => Box::new(argon2::Argon2Scheme::new(
            variant, *m_cost, *t_cost, *p_cost,
        )?),
        SchemeSpec::Digest { recipe, salt } => {
            Box::new(digest::DigestScheme::new(recipe, salt.as_ref())?)
        }
        SchemeSpec::Md5Crypt { input, salt } => Box::new(crypt::CryptScheme::new(
            crypt::CryptKind::Md5,
            input.as_deref(),
            salt.as_deref(),
            None,
            false,
        )?),
        SchemeSpec::Sha256Crypt(ShaCryptSpec {
            input,
            salt,
            rounds,
            strip_prefix,
        })
        | SchemeSpec::Sha512Crypt(ShaCryptSpec {
            input,
            salt,
            rounds,
            strip_prefix,
        }) => {
            let kind = if matches!(spec, SchemeSpec::Sha256Crypt(_)) {
                crypt::CryptKind::Sha256
            } else {
                crypt::CryptKind::Sha512
            };
            Box::new(crypt::CryptScheme::new(
                kind,
                input.as_deref(),
                salt.as_deref(),
                *rounds,
                *strip_prefix,
            )?)
        }
        SchemeSpec::Pbkdf2Passlib {
            digest,
            rounds,
            salt_bytes,
        } => Box::new(pbkdf2::PasslibPbkdf2::new(digest, *rounds, *salt_bytes)?),
        SchemeSpec::Pbkdf2Django { digest, rounds } => {
            Box::new(pbkdf2::DjangoPbkdf2::new(digest, *rounds)?)
        }
        SchemeSpec::JeecgPbe { iterations, salt } => {
            Box::new(jeecg::JeecgPbe::new(*iterations, salt)?)
        }
        SchemeSpec::KingdeeFsid { prefix } => Box::new(kingdee::KingdeeFsid::new(*prefix)),
        SchemeSpec::Opaque { note } => Box::new(opaque::OpaqueScheme::new(note.clone())),
        SchemeSpec::Directory { .. } => Box::new(directory::DirectoryScheme),
    })
}

/// A scheme whose recipe variable `salt` is one install-wide value (Dolibarr's
/// `MAIN_SECURITY_SALT`) instead of a per-row column. The value never appears
/// in `id()`, `Debug` or errors.
pub fn with_site_salt(inner: Box<dyn Scheme>, salt: String) -> Box<dyn Scheme> {
    Box::new(SiteSalted {
        inner,
        salt: zeroize::Zeroizing::new(salt),
    })
}

struct SiteSalted {
    inner: Box<dyn Scheme>,
    salt: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for SiteSalted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SiteSalted({:?}, <site salt>)", self.inner)
    }
}

impl SiteSalted {
    fn input<'a>(&'a self, account: &AccountInput<'a>) -> AccountInput<'a> {
        AccountInput {
            login: account.login,
            salt: Some(self.salt.as_str()),
        }
    }
}

impl Scheme for SiteSalted {
    fn id(&self) -> String {
        format!("{}:site-salt", self.inner.id())
    }
    fn level(&self) -> Level {
        self.inner.level()
    }
    fn rules(&self) -> PasswordRules {
        self.inner.rules()
    }
    fn bound_to_login(&self) -> bool {
        self.inner.bound_to_login()
    }
    fn uses_salt_column(&self) -> bool {
        false
    }
    fn hash(&self, password: &Password, account: &AccountInput) -> Result<Hashed, SchemeError> {
        let mut h = self.inner.hash(password, &self.input(account))?;
        h.salt = None;
        Ok(h)
    }
    fn verify(
        &self,
        password: &Password,
        account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError> {
        self.inner.verify(password, &self.input(account), stored)
    }
    fn has_shape(&self, stored: &str) -> bool {
        self.inner.has_shape(stored)
    }
}

/// Constant-time equality of two byte strings (length is not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `n` random bytes from the OS CSPRNG, for salts whose length is configured at run time.
fn random_vec(n: usize) -> Result<Vec<u8>, SchemeError> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let chunk = crate::secret::random_bytes::<32>()?;
        let take = (n - out.len()).min(chunk.len());
        out.extend_from_slice(&chunk[..take]);
    }
    Ok(out)
}

/// The crypt(3) salt alphabet `./0-9A-Za-z`.
const CRYPT_ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn is_crypt_char(b: u8) -> bool {
    b == b'.' || b == b'/' || b.is_ascii_alphanumeric()
}

fn is_hex_lower(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_deserializes_from_toml_tables() {
        let spec: SchemeSpec = toml::from_str(
            "kind = \"digest\"\nrecipe = \"md5(login + password + 'erp' + salt)\"\n\
             salt = { length = 32, alphabet = \"hex\" }\n",
        )
        .unwrap();
        assert_eq!(
            spec,
            SchemeSpec::Digest {
                recipe: "md5(login + password + 'erp' + salt)".into(),
                salt: Some(SaltRule {
                    length: 32,
                    alphabet: "hex".into()
                })
            }
        );
        let spec: SchemeSpec =
            toml::from_str("kind = \"jeecg-pbe\"\nsalt = { length = 8, alphabet = \"alnum\" }\n")
                .unwrap();
        assert!(matches!(
            spec,
            SchemeSpec::JeecgPbe {
                iterations: 1000,
                ..
            }
        ));
        let spec: SchemeSpec =
            toml::from_str("kind = \"pbkdf2-passlib\"\ndigest = \"sha512\"\nrounds = 600000\n")
                .unwrap();
        assert!(matches!(
            spec,
            SchemeSpec::Pbkdf2Passlib { salt_bytes: 16, .. }
        ));
        let spec: SchemeSpec = toml::from_str(
            "kind = \"sha512-crypt\"\ninput = \"md5(password)\"\nsalt = \"bdaff81c7b8db54d\"\n\
             strip_prefix = true\n",
        )
        .unwrap();
        assert!(matches!(
            spec,
            SchemeSpec::Sha512Crypt(ShaCryptSpec {
                strip_prefix: true,
                rounds: None,
                ..
            })
        ));
        // Unknown fields are refused, so typos in connector files surface early.
        assert!(
            toml::from_str::<SchemeSpec>(
                "kind = \"bcrypt\"\nprefix = \"2y\"\ncost = 10\ncots = 1\n"
            )
            .is_err()
        );
        assert!(toml::from_str::<SchemeSpec>("kind = \"opaque\"\n").is_ok());
    }

    #[test]
    fn site_salt_feeds_the_recipe_and_stays_out_of_id_and_debug() {
        // Dolibarr vector (reference §3.7): SALT=20241119145825, md5 and sha1md5.
        let md5 = build(&SchemeSpec::Digest {
            recipe: "md5(salt + password)".into(),
            salt: None,
        })
        .unwrap();
        let md5 = with_site_salt(md5, "20241119145825".into());
        let input = AccountInput {
            login: "admin",
            salt: None,
        };
        let pw = Password::new("Reset#2024".into());
        let h = md5.hash(&pw, &input).unwrap();
        assert_eq!(h.stored, "02871555aba5d93b17d59dbd625519b7");
        assert_eq!(h.salt, None);
        assert!(md5.verify(&pw, &input, &h.stored).unwrap());
        assert!(!md5.id().contains("2024111") && !format!("{md5:?}").contains("2024111"));
        let sha = build(&SchemeSpec::Digest {
            recipe: "sha1(md5(salt + password))".into(),
            salt: None,
        })
        .unwrap();
        let sha = with_site_salt(sha, "20241119145825".into());
        assert_eq!(
            sha.hash(&pw, &input).unwrap().stored,
            "41d765606b2f6300c603bbc6e4a2a50f4b696a09"
        );
    }

    #[test]
    fn salt_rules_validate() {
        let bad = |length: usize, alphabet: &str| {
            SaltRule {
                length,
                alphabet: alphabet.into(),
            }
            .symbols()
            .is_err()
        };
        assert!(bad(0, "hex"));
        assert!(bad(8, ""));
        assert!(bad(8, "aab"));
        assert!(bad(8, "ab c"));
        assert!(bad(8, "é"));
        assert!(!bad(8, "hex"));
        assert!(!bad(8, JEECG_SALT_ALPHABET));
    }

    #[test]
    fn rules_check_messages_never_echo_the_password() {
        let rules = PasswordRules {
            max_bytes: Some(4),
            printable_ascii_only: true,
        };
        let e = rules.check(&Password::new("Secret#1".into())).unwrap_err();
        assert!(matches!(e, SchemeError::PasswordTooLong { max: 4, got: 8 }));
        assert!(!e.to_string().contains("Secret"));
        assert!(matches!(
            rules.check(&Password::new("né".into())),
            Err(SchemeError::NotPrintableAscii)
        ));
        assert!(matches!(
            PasswordRules::NONE.check(&Password::new(String::new())),
            Err(SchemeError::EmptyPassword)
        ));
        assert!(matches!(
            PasswordRules::NONE.check(&Password::new("a\0b".into())),
            Err(SchemeError::NulByte)
        ));
    }
}
