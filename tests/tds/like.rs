//! T-SQL's `LIKE`, which SQLite's does not model: `[abc]`, `[a-z]` and
//! `[^…]` character classes, an escape character that also escapes `[`, and
//! case-insensitive comparison under Chinese_PRC_CI_AS. Registered on every
//! session connection as `tsql_like(value, pattern, escape)`.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// `%`: any run of characters, possibly empty.
    Any,
    /// `_`: exactly one character.
    One,
    /// `[…]` / `[^…]`: one character in (or not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Lit(char),
}

fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn compile(pattern: &str, escape: Option<char>) -> Vec<Part> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if Some(c) == escape {
            // An escape before any character makes it literal; a trailing escape is itself.
            out.push(Part::Lit(*chars.get(i + 1).unwrap_or(&c)));
            i += 2;
            continue;
        }
        match c {
            '%' => out.push(Part::Any),
            '_' => out.push(Part::One),
            '[' => {
                // A `[` without a closing `]` is literal in SQL Server.
                let Some(close) = chars[i + 1..].iter().position(|&x| x == ']') else {
                    out.push(Part::Lit('['));
                    i += 1;
                    continue;
                };
                let body = &chars[i + 1..i + 1 + close];
                let (negated, body) = match body.first() {
                    Some('^') => (true, &body[1..]),
                    _ => (false, body),
                };
                let mut ranges = Vec::new();
                let mut j = 0;
                while j < body.len() {
                    if j + 2 < body.len() && body[j + 1] == '-' {
                        ranges.push((fold(body[j]), fold(body[j + 2])));
                        j += 3;
                    } else {
                        ranges.push((fold(body[j]), fold(body[j])));
                        j += 1;
                    }
                }
                out.push(Part::Class { negated, ranges });
                i += close + 2;
                continue;
            }
            other => out.push(Part::Lit(fold(other))),
        }
        i += 1;
    }
    out
}

fn matches_at(parts: &[Part], text: &[char]) -> bool {
    // Classic wildcard DP: reachable[j] = parts[..p] can match text[..j].
    let mut reachable = vec![false; text.len() + 1];
    reachable[0] = true;
    for part in parts {
        let mut next = vec![false; text.len() + 1];
        match part {
            Part::Any => {
                let mut seen = false;
                for j in 0..=text.len() {
                    seen |= reachable[j];
                    next[j] = seen;
                }
            }
            _ => {
                for j in 0..text.len() {
                    if !reachable[j] {
                        continue;
                    }
                    let c = fold(text[j]);
                    let ok = match part {
                        Part::One => true,
                        Part::Lit(l) => *l == c,
                        Part::Class { negated, ranges } => {
                            ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
                        }
                        Part::Any => unreachable!(),
                    };
                    if ok {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reachable = next;
    }
    reachable[text.len()]
}

/// Whether `value LIKE pattern [ESCAPE escape]` holds under a CI collation.
pub fn tsql_like(value: &str, pattern: &str, escape: Option<char>) -> bool {
    let text: Vec<char> = value.chars().collect();
    matches_at(&compile(pattern, escape), &text)
}

/// Registers `tsql_like(value, pattern[, escape])` on a connection (NULL in, NULL out).
pub fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::ValueRef;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let text = |v: ValueRef<'_>| -> Option<String> {
        match v {
            ValueRef::Null => None,
            ValueRef::Integer(i) => Some(i.to_string()),
            ValueRef::Real(f) => Some(f.to_string()),
            ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        }
    };
    for n_arg in [2, 3] {
        conn.create_scalar_function("tsql_like", n_arg, flags, move |ctx| {
            let value = text(ctx.get_raw(0));
            let pattern = text(ctx.get_raw(1));
            let escape = if n_arg == 3 {
                text(ctx.get_raw(2)).and_then(|e| e.chars().next())
            } else {
                None
            };
            Ok(match (value, pattern) {
                (Some(v), Some(p)) => Some(tsql_like(&v, &p, escape) as i64),
                _ => None,
            })
        })?;
    }
    Ok(())
}
