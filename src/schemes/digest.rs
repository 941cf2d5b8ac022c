//! Digest recipes: a tiny expression language for "md5 of this and that" formats.
//!
//! ```text
//! recipe  := concat
//! concat  := term ( '+' term )*
//! term    := NAME '(' concat ')' | NAME | STRING | '(' concat ')'
//! NAME    := function (md5 sha1 sha256 sha512, *_raw, upper lower base64)
//!          | variable (password login salt)
//! STRING  := '…' | "…"          (no escapes; use the other quote to embed one)
//! ```
//!
//! `md5(x)` etc. give lowercase hex text, as PHP, hutool and commons-codec do;
//! `md5_raw(x)` etc. give the raw digest bytes; `+` concatenates bytes; all
//! text is UTF-8. Intermediate values are zeroized when dropped.

use super::{AccountInput, Hashed, PasswordRules, SaltRule, Scheme, SchemeError, ct_eq};
use crate::secret::{Password, random_string};
use base64::Engine as _;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use zeroize::Zeroizing;

/// Deepest nesting a recipe may use; real recipes need 2 or 3.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    Password,
    Login,
    Salt,
}

impl Var {
    fn name(self) -> &'static str {
        match self {
            Var::Password => "password",
            Var::Login => "login",
            Var::Salt => "salt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    fn name(self) -> &'static str {
        match self {
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }

    fn output_len(self) -> usize {
        match self {
            Algo::Md5 => 16,
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
            Algo::Sha512 => 64,
        }
    }

    fn digest(self, data: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            Algo::Md5 => Md5::digest(data).to_vec(),
            Algo::Sha1 => Sha1::digest(data).to_vec(),
            Algo::Sha256 => Sha256::digest(data).to_vec(),
            Algo::Sha512 => Sha512::digest(data).to_vec(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Hex(Algo),
    Raw(Algo),
    Upper,
    Lower,
    Base64,
}

impl Func {
    const ALL: [Func; 11] = [
        Func::Hex(Algo::Md5),
        Func::Hex(Algo::Sha1),
        Func::Hex(Algo::Sha256),
        Func::Hex(Algo::Sha512),
        Func::Raw(Algo::Md5),
        Func::Raw(Algo::Sha1),
        Func::Raw(Algo::Sha256),
        Func::Raw(Algo::Sha512),
        Func::Upper,
        Func::Lower,
        Func::Base64,
    ];

    fn name(self) -> String {
        match self {
            Func::Hex(a) => a.name().to_string(),
            Func::Raw(a) => format!("{}_raw", a.name()),
            Func::Upper => "upper".into(),
            Func::Lower => "lower".into(),
            Func::Base64 => "base64".into(),
        }
    }

    fn by_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    fn apply(self, x: &[u8]) -> Zeroizing<Vec<u8>> {
        match self {
            Func::Hex(a) => Zeroizing::new(hex::encode(a.digest(x)).into_bytes()),
            Func::Raw(a) => a.digest(x),
            Func::Upper => Zeroizing::new(x.to_ascii_uppercase()),
            Func::Lower => Zeroizing::new(x.to_ascii_lowercase()),
            Func::Base64 => Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .encode(x)
                    .into_bytes(),
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Var(Var),
    Lit(String),
    Call(Func, Box<Expr>),
    Concat(Vec<Expr>),
}

/// What a recipe's output looks like, for `has_shape` and length limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Hex { len: usize, upper: bool },
    Base64 { len: usize },
    Raw { len: usize },
    Unknown,
}

impl Shape {
    /// Output length in bytes when it does not depend on the inputs.
    pub(crate) fn fixed_len(self) -> Option<usize> {
        match self {
            Shape::Hex { len, .. } | Shape::Base64 { len } | Shape::Raw { len } => Some(len),
            Shape::Unknown => None,
        }
    }

    pub(crate) fn matches(self, s: &str) -> bool {
        match self {
            Shape::Hex { len, upper } => {
                s.len() == len
                    && s.bytes().all(|b| {
                        b.is_ascii_digit()
                            || if upper {
                                (b'A'..=b'F').contains(&b)
                            } else {
                                (b'a'..=b'f').contains(&b)
                            }
                    })
            }
            Shape::Base64 { len } => {
                s.len() == len && base64::engine::general_purpose::STANDARD.decode(s).is_ok()
            }
            Shape::Raw { .. } => false,
            Shape::Unknown => !s.is_empty(),
        }
    }
}

impl Expr {
    fn mentions(&self, v: Var) -> bool {
        match self {
            Expr::Var(x) => *x == v,
            Expr::Lit(_) => false,
            Expr::Call(_, inner) => inner.mentions(v),
            Expr::Concat(parts) => parts.iter().any(|p| p.mentions(v)),
        }
    }

    fn render(&self, out: &mut String) {
        match self {
            Expr::Var(v) => out.push_str(v.name()),
            Expr::Lit(s) => {
                let q = if s.contains('\'') { '"' } else { '\'' };
                out.push(q);
                out.push_str(s);
                out.push(q);
            }
            Expr::Call(f, inner) => {
                out.push_str(&f.name());
                out.push('(');
                inner.render(out);
                out.push(')');
            }
            Expr::Concat(parts) => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push('+');
                    }
                    p.render(out);
                }
            }
        }
    }

    fn shape(&self) -> Shape {
        match self {
            Expr::Call(Func::Hex(a), _) => Shape::Hex {
                len: a.output_len() * 2,
                upper: false,
            },
            Expr::Call(Func::Raw(a), _) => Shape::Raw {
                len: a.output_len(),
            },
            Expr::Call(f @ (Func::Upper | Func::Lower), inner) => match inner.shape() {
                Shape::Hex { len, .. } => Shape::Hex {
                    len,
                    upper: *f == Func::Upper,
                },
                _ => Shape::Unknown,
            },
            Expr::Call(Func::Base64, inner) => match inner.shape().fixed_len() {
                Some(n) => Shape::Base64 {
                    len: n.div_ceil(3) * 4,
                },
                None => Shape::Unknown,
            },
            Expr::Var(_) | Expr::Lit(_) | Expr::Concat(_) => Shape::Unknown,
        }
    }

    fn eval(&self, env: &Env) -> Result<Zeroizing<Vec<u8>>, SchemeError> {
        Ok(match self {
            Expr::Var(Var::Password) => Zeroizing::new(env.password.to_vec()),
            Expr::Var(Var::Login) => Zeroizing::new(env.login.to_vec()),
            Expr::Var(Var::Salt) => {
                Zeroizing::new(env.salt.ok_or(SchemeError::MissingSalt)?.to_vec())
            }
            Expr::Lit(s) => Zeroizing::new(s.as_bytes().to_vec()),
            Expr::Call(f, inner) => f.apply(&inner.eval(env)?),
            Expr::Concat(parts) => {
                let mut out = Zeroizing::new(Vec::new());
                for p in parts {
                    out.extend_from_slice(&p.eval(env)?);
                }
                out
            }
        })
    }
}

struct Env<'a> {
    password: &'a [u8],
    login: &'a [u8],
    salt: Option<&'a [u8]>,
}

/// A parsed recipe.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recipe {
    expr: Expr,
}

impl Recipe {
    pub(crate) fn parse(source: &str) -> Result<Recipe, SchemeError> {
        let mut p = Parser {
            src: source,
            chars: source.char_indices().collect(),
            pos: 0,
        };
        p.skip_ws();
        if p.at_end() {
            return Err(p.error("the recipe is empty; write e.g. md5(password)".into()));
        }
        let expr = p.concat(0)?;
        p.skip_ws();
        if let Some(c) = p.peek() {
            return Err(p.error(format!(
                "unexpected {c:?} at position {}; only '+' can join parts",
                p.pos + 1
            )));
        }
        Ok(Recipe { expr })
    }

    pub(crate) fn mentions(&self, v: Var) -> bool {
        self.expr.mentions(v)
    }

    /// Canonical text: no spaces, single quotes where possible.
    pub(crate) fn canonical(&self) -> String {
        let mut s = String::new();
        self.expr.render(&mut s);
        s
    }

    pub(crate) fn shape(&self) -> Shape {
        self.expr.shape()
    }

    /// Evaluates the recipe. `salt` must be Some when the recipe mentions `salt`.
    pub(crate) fn eval(
        &self,
        password: &Password,
        login: &str,
        salt: Option<&str>,
    ) -> Result<Zeroizing<Vec<u8>>, SchemeError> {
        self.expr.eval(&Env {
            password: password.expose().as_bytes(),
            login: login.as_bytes(),
            salt: salt.map(str::as_bytes),
        })
    }

    /// Evaluates the recipe into text for storage (or as the input of another scheme).
    pub(crate) fn eval_text(
        &self,
        password: &Password,
        login: &str,
        salt: Option<&str>,
    ) -> Result<Password, SchemeError> {
        let bytes = self.eval(password, login, salt)?;
        match std::str::from_utf8(&bytes) {
            Ok(s) => Ok(Password::new(s.to_owned())),
            Err(_) => Err(SchemeError::BadRecipe {
                recipe: self.canonical(),
                reason: "the result is raw bytes, not text; wrap the *_raw call in base64(...) \
                         or use the hex function (md5 instead of md5_raw)"
                    .into(),
            }),
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: String) -> SchemeError {
        SchemeError::BadRecipe {
            recipe: self.src.to_string(),
            reason,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn concat(&mut self, depth: usize) -> Result<Expr, SchemeError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!(
                "nesting deeper than {MAX_DEPTH} levels at position {}",
                self.pos + 1
            )));
        }
        let mut parts = vec![self.term(depth)?];
        loop {
            self.skip_ws();
            if self.peek() == Some('+') {
                self.pos += 1;
                parts.push(self.term(depth)?);
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Concat(parts)
        })
    }

    fn expect_close(&mut self, open_at: usize) -> Result<(), SchemeError> {
        self.skip_ws();
        match self.peek() {
            Some(')') => {
                self.pos += 1;
                Ok(())
            }
            Some(c) => Err(self.error(format!(
                "expected ')' to close the '(' at position {open_at}, found {c:?} at position {}",
                self.pos + 1
            ))),
            None => Err(self.error(format!(
                "the '(' at position {open_at} is never closed; add ')' at the end"
            ))),
        }
    }

    fn term(&mut self, depth: usize) -> Result<Expr, SchemeError> {
        self.skip_ws();
        let start = self.pos + 1;
        match self.peek() {
            None => Err(self.error(format!(
                "the recipe ends early at position {start}; expected a name, a quoted string or '('"
            ))),
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                let from = self.pos;
                while self.peek().is_some_and(|c| c != q) {
                    self.pos += 1;
                }
                if self.at_end() {
                    return Err(self.error(format!(
                        "the string starting at position {start} is never closed; add {q}"
                    )));
                }
                let text: String = self.chars[from..self.pos].iter().map(|&(_, c)| c).collect();
                self.pos += 1;
                Ok(Expr::Lit(text))
            }
            Some('(') => {
                self.pos += 1;
                let inner = self.concat(depth + 1)?;
                self.expect_close(start)?;
                Ok(inner)
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let from = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.pos += 1;
                }
                let name: String = self.chars[from..self.pos].iter().map(|&(_, c)| c).collect();
                self.skip_ws();
                if self.peek() == Some('(') {
                    let open_at = self.pos + 1;
                    self.pos += 1;
                    let Some(func) = Func::by_name(&name) else {
                        let known: Vec<String> = Func::ALL.iter().map(|f| f.name()).collect();
                        return Err(self.error(format!(
                            "unknown function `{name}` at position {start}; known functions: {}",
                            known.join(", ")
                        )));
                    };
                    let inner = self.concat(depth + 1)?;
                    self.expect_close(open_at)?;
                    Ok(Expr::Call(func, Box::new(inner)))
                } else {
                    match name.as_str() {
                        "password" => Ok(Expr::Var(Var::Password)),
                        "login" => Ok(Expr::Var(Var::Login)),
                        "salt" => Ok(Expr::Var(Var::Salt)),
                        _ if Func::by_name(&name).is_some() => Err(self.error(format!(
                            "function `{name}` at position {start} needs an argument in parentheses"
                        ))),
                        _ => Err(self.error(format!(
                            "unknown variable `{name}` at position {start}; known variables: \
                             password, login, salt (quote literal text)"
                        ))),
                    }
                }
            }
            Some(c) => Err(self.error(format!(
                "unexpected {c:?} at position {start}; expected a name, a quoted string or '('"
            ))),
        }
    }
}

/// A digest recipe stored as text, optionally with a separate salt column.
#[derive(Debug)]
pub(crate) struct DigestScheme {
    recipe: Recipe,
    salt_rule: Option<(SaltRule, Vec<u8>)>,
}

impl DigestScheme {
    pub(crate) fn new(recipe: &str, salt: Option<&SaltRule>) -> Result<Self, SchemeError> {
        let recipe = Recipe::parse(recipe)?;
        if let Shape::Raw { .. } = recipe.shape() {
            return Err(SchemeError::BadRecipe {
                recipe: recipe.canonical(),
                reason: "the result is raw bytes, which cannot be stored as text; wrap it in \
                         base64(...) or use the hex function"
                    .into(),
            });
        }
        if !recipe.mentions(Var::Password) {
            return Err(SchemeError::BadRecipe {
                recipe: recipe.canonical(),
                reason: "the recipe never uses `password`".into(),
            });
        }
        let salt_rule = match salt {
            Some(rule) => {
                if !recipe.mentions(Var::Salt) {
                    return Err(SchemeError::BadSpec(format!(
                        "a salt rule is given but the recipe `{}` never uses `salt`; remove the \
                         rule or add salt to the recipe",
                        recipe.canonical()
                    )));
                }
                let symbols = rule.symbols()?;
                Some((rule.clone(), symbols))
            }
            None => None,
        };
        Ok(DigestScheme { recipe, salt_rule })
    }
}

impl Scheme for DigestScheme {
    fn id(&self) -> String {
        format!("digest:{}", self.recipe.canonical())
    }

    fn level(&self) -> super::Level {
        super::Level::VendorSource
    }

    fn rules(&self) -> PasswordRules {
        PasswordRules::NONE
    }

    fn bound_to_login(&self) -> bool {
        self.recipe.mentions(Var::Login)
    }

    fn uses_salt_column(&self) -> bool {
        self.salt_rule.is_some()
    }

    fn hash(&self, password: &Password, account: &AccountInput) -> Result<Hashed, SchemeError> {
        self.rules().check(password)?;
        let (salt, fresh) = match &self.salt_rule {
            Some((rule, symbols)) => {
                let s = random_string(rule.length, symbols)?;
                (Some(s.clone()), Some(s))
            }
            // `salt` without a rule: a salt kept elsewhere (e.g. a global one) that we reuse.
            None if self.recipe.mentions(Var::Salt) => (
                Some(account.salt.ok_or(SchemeError::MissingSalt)?.to_owned()),
                None,
            ),
            None => (None, None),
        };
        let stored = self
            .recipe
            .eval_text(password, account.login, salt.as_deref())?;
        Ok(Hashed {
            stored: stored.expose().to_owned(),
            salt: fresh,
        })
    }

    fn verify(
        &self,
        password: &Password,
        account: &AccountInput,
        stored: &str,
    ) -> Result<bool, SchemeError> {
        let salt = if self.recipe.mentions(Var::Salt) {
            Some(account.salt.ok_or(SchemeError::MissingSalt)?)
        } else {
            None
        };
        let computed = self.recipe.eval(password, account.login, salt)?;
        Ok(ct_eq(&computed, stored.as_bytes()))
    }

    fn has_shape(&self, stored: &str) -> bool {
        self.recipe.shape().matches(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::{SchemeSpec, build, is_hex_lower};

    fn pw(s: &str) -> Password {
        Password::new(s.into())
    }

    fn eval(recipe: &str, p: &str, login: &str, salt: Option<&str>) -> String {
        Recipe::parse(recipe)
            .unwrap()
            .eval_text(&pw(p), login, salt)
            .unwrap()
            .expose()
            .to_owned()
    }

    fn digest(recipe: &str, length: usize) -> Box<dyn Scheme> {
        build(&SchemeSpec::Digest {
            recipe: recipe.into(),
            salt: Some(SaltRule {
                length,
                alphabet: "hex".into(),
            }),
        })
        .unwrap()
    }

    const WUKONG11: &str = "md5(login + password + 'erp' + salt)";
    const WUKONG_PHP: &str = "md5(sha1(password) + md5(password + salt))";
    const RUOYI: &str = "md5(login + password + salt)";

    #[test]
    fn wukong11_format1_vector() {
        let s = digest(WUKONG11, 32);
        let acct = AccountInput {
            login: "13800000000",
            salt: Some("0123456789abcdef0123456789abcdef"),
        };
        assert!(
            s.verify(&pw("Reset#2024"), &acct, "532854df7f01f5118396fb02977bc903")
                .unwrap()
        );
        assert!(
            !s.verify(&pw("Reset#2025"), &acct, "532854df7f01f5118396fb02977bc903")
                .unwrap()
        );
        assert_eq!(s.id(), "digest:md5(login+password+'erp'+salt)");
        assert!(s.bound_to_login());
        assert!(s.uses_salt_column());
    }

    #[test]
    fn wukong11_signp_vector_via_recipe() {
        // signP: md5(md5(sha1(u+p)) + md5(p+salt)) with u = first 11 chars of the key.
        let s = eval(
            "md5(md5(sha1(login + password)) + md5(password + salt))",
            "Reset#2024",
            "13800000000",
            Some("ab12"),
        );
        assert_eq!(s, "90ed5d0c55fc9dc0741786640d7d65a5");
    }

    #[test]
    fn wukong9_seed_vector() {
        let s = digest(WUKONG11, 32);
        let acct = AccountInput {
            login: "admin",
            salt: Some("7d65f7cbc0ce4a259d741ae0ef33730c"),
        };
        assert!(
            s.verify(&pw("123456"), &acct, "51a10f3b4724642d6987d90510e6edf5")
                .unwrap()
        );
        assert!(
            !s.verify(&pw("1234567"), &acct, "51a10f3b4724642d6987d90510e6edf5")
                .unwrap()
        );
    }

    #[test]
    fn wukong_php_user_md5_vectors() {
        let s = digest(WUKONG_PHP, 4);
        let a = AccountInput {
            login: "ignored",
            salt: Some("ab12"),
        };
        assert!(
            s.verify(&pw("admin123"), &a, "7c01ba69881691a6ffbec2498a857a05")
                .unwrap()
        );
        let b = AccountInput {
            login: "ignored",
            salt: Some("9f3c"),
        };
        assert!(
            s.verify(&pw("Reset#2024"), &b, "9d0f7e061cab1e554d9be9cf66125e43")
                .unwrap()
        );
        assert!(
            !s.verify(&pw("Reset#2024"), &a, "9d0f7e061cab1e554d9be9cf66125e43")
                .unwrap()
        );
        assert!(!s.bound_to_login());
    }

    #[test]
    fn ruoyi_vectors() {
        let s = digest(RUOYI, 6);
        let seed = AccountInput {
            login: "admin",
            salt: Some("111111"),
        };
        assert!(
            s.verify(&pw("admin123"), &seed, "29c67a30398638269fe600f73a054934")
                .unwrap()
        );
        let new = AccountInput {
            login: "admin",
            salt: Some("a1b2c3"),
        };
        assert!(
            s.verify(&pw("Reset#2024"), &new, "d8c1da3b9a0ea24407660d461bccf877")
                .unwrap()
        );
        // The login is part of the hash: renaming breaks it.
        let renamed = AccountInput {
            login: "Admin",
            salt: Some("a1b2c3"),
        };
        assert!(
            !s.verify(
                &pw("Reset#2024"),
                &renamed,
                "d8c1da3b9a0ea24407660d461bccf877"
            )
            .unwrap()
        );
    }

    #[test]
    fn dolibarr_and_suitecrm_legacy_vectors() {
        // MAIN_SECURITY_SALT is global (llx_const), so it is a literal in the recipe.
        let md5 = build(&SchemeSpec::Digest {
            recipe: "md5('20241119145825' + password)".into(),
            salt: None,
        })
        .unwrap();
        let sha1md5 = build(&SchemeSpec::Digest {
            recipe: "sha1(md5('20241119145825' + password))".into(),
            salt: None,
        })
        .unwrap();
        let plain = build(&SchemeSpec::Digest {
            recipe: "md5(password)".into(),
            salt: None,
        })
        .unwrap();
        let a = AccountInput {
            login: "admin",
            salt: None,
        };
        let p = pw("Reset#2024");
        assert!(
            md5.verify(&p, &a, "02871555aba5d93b17d59dbd625519b7")
                .unwrap()
        );
        assert!(
            sha1md5
                .verify(&p, &a, "41d765606b2f6300c603bbc6e4a2a50f4b696a09")
                .unwrap()
        );
        assert!(
            plain
                .verify(&p, &a, "0182b57e430540dbf1084a834c0a4f7b")
                .unwrap()
        );
        // Uppercase md5 is rejected by SuiteCRM; we compare exactly too.
        assert!(
            !plain
                .verify(&p, &a, "0182B57E430540DBF1084A834C0A4F7B")
                .unwrap()
        );
        assert_eq!(
            md5.hash(&p, &a).unwrap().stored,
            "02871555aba5d93b17d59dbd625519b7"
        );
        assert!(!md5.uses_salt_column());
        assert!(sha1md5.has_shape("41d765606b2f6300c603bbc6e4a2a50f4b696a09"));
        assert!(!sha1md5.has_shape("02871555aba5d93b17d59dbd625519b7"));
    }

    #[test]
    fn salt_from_the_account_when_no_rule() {
        let s = build(&SchemeSpec::Digest {
            recipe: "md5(salt + password)".into(),
            salt: None,
        })
        .unwrap();
        let a = AccountInput {
            login: "x",
            salt: Some("20241119145825"),
        };
        let h = s.hash(&pw("Reset#2024"), &a).unwrap();
        assert_eq!(h.stored, "02871555aba5d93b17d59dbd625519b7");
        assert_eq!(h.salt, None);
        assert!(!s.uses_salt_column());
        let no_salt = AccountInput {
            login: "x",
            salt: None,
        };
        assert!(matches!(
            s.hash(&pw("Reset#2024"), &no_salt),
            Err(SchemeError::MissingSalt)
        ));
    }

    #[test]
    fn round_trip_regenerates_salt_of_the_right_shape() {
        for (recipe, len) in [(WUKONG11, 32), (WUKONG_PHP, 4), (RUOYI, 6)] {
            let s = digest(recipe, len);
            let p = pw("N3w!pass'\"word");
            let h = s
                .hash(
                    &p,
                    &AccountInput {
                        login: "13800000000",
                        salt: Some("stale"),
                    },
                )
                .unwrap();
            let salt = h.salt.clone().unwrap();
            assert_eq!(salt.len(), len);
            assert!(is_hex_lower(&salt));
            let acct = AccountInput {
                login: "13800000000",
                salt: Some(&salt),
            };
            assert!(s.verify(&p, &acct, &h.stored).unwrap());
            assert!(!s.verify(&pw("N3w!pass'\"wordX"), &acct, &h.stored).unwrap());
            assert!(s.has_shape(&h.stored));
            assert!(!s.has_shape("$2y$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS"));
            assert!(!s.has_shape(&h.stored.to_uppercase()));
            let again = s
                .hash(
                    &p,
                    &AccountInput {
                        login: "13800000000",
                        salt: None,
                    },
                )
                .unwrap();
            assert_ne!(again.salt, h.salt);
        }
    }

    #[test]
    fn functions_and_canonical_form() {
        assert_eq!(
            eval("upper(md5('a'))", "", "", None),
            "0CC175B9C0F1B6A831C399E269772661"
        );
        assert_eq!(eval("lower('ABC')", "", "", None), "abc");
        assert_eq!(
            eval("base64(md5_raw('a'))", "", "", None),
            "DMF1ucDxtqgxw5niaXcmYQ=="
        );
        assert_eq!(
            eval("sha256('abc')", "", "", None),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            eval("\"it's\" + 'say \"hi\"'", "", "", None),
            "it'ssay \"hi\""
        );
        assert_eq!(eval("( password + login )", "p", "l", None), "pl");
        let r = Recipe::parse("  md5 ( sha1(password) +\tmd5( password+salt ) ) ").unwrap();
        assert_eq!(r.canonical(), "md5(sha1(password)+md5(password+salt))");
        assert_eq!(Recipe::parse(&r.canonical()).unwrap(), r);
        let r = Recipe::parse("\"it's\" + 'x'").unwrap();
        assert_eq!(r.canonical(), "\"it's\"+'x'");
        assert_eq!(
            Recipe::parse("base64(sha1_raw(password))").unwrap().shape(),
            Shape::Base64 { len: 28 }
        );
        assert_eq!(
            Recipe::parse("upper(sha1(password))").unwrap().shape(),
            Shape::Hex {
                len: 40,
                upper: true
            }
        );
    }

    #[test]
    fn parse_errors_name_the_position() {
        let reason = |src: &str| match Recipe::parse(src) {
            Err(SchemeError::BadRecipe { reason, .. }) => reason,
            other => panic!("{src}: {other:?}"),
        };
        assert!(reason("").contains("empty"));
        assert!(reason("md4(password)").contains("unknown function `md4` at position 1"));
        assert!(reason("md5(pasword)").contains("unknown variable `pasword` at position 5"));
        assert!(reason("md5(password").contains("position 4"));
        assert!(reason("md5(password + 'erp)").contains("string starting at position 16"));
        assert!(reason("md5(password) salt").contains("position 15"));
        assert!(reason("md5(password +)").contains("position 15"));
        assert!(reason("md5").contains("needs an argument"));
        assert!(reason("md5(password ; x)").contains("position 14"));
        let deep = format!("{}password{}", "md5(".repeat(40), ")".repeat(40));
        assert!(reason(&deep).contains("nesting"));
    }

    #[test]
    fn bad_specs_are_refused() {
        let spec = |recipe: &str, salt: Option<SaltRule>| {
            build(&SchemeSpec::Digest {
                recipe: recipe.into(),
                salt,
            })
        };
        let hex4 = || {
            Some(SaltRule {
                length: 4,
                alphabet: "hex".into(),
            })
        };
        assert!(matches!(
            spec("md5(password)", hex4()),
            Err(SchemeError::BadSpec(_))
        ));
        assert!(matches!(
            spec("md5_raw(password)", None),
            Err(SchemeError::BadRecipe { .. })
        ));
        assert!(matches!(
            spec("md5(login)", None),
            Err(SchemeError::BadRecipe { .. })
        ));
        assert!(spec("md5(password+salt)", hex4()).is_ok());
    }

    #[test]
    fn verify_without_salt_column_value_is_an_error() {
        let s = digest(RUOYI, 6);
        let a = AccountInput {
            login: "admin",
            salt: None,
        };
        assert!(matches!(
            s.verify(&pw("x"), &a, "29c67a30398638269fe600f73a054934"),
            Err(SchemeError::MissingSalt)
        ));
    }
}
