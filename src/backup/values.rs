//! Literal values of a dump: the tuples of an `INSERT … VALUES (…), (…);`
//! (mysqldump and `pg_dump --inserts`) read from the stream one at a time,
//! and the fields of a `COPY … FROM stdin` line (pg_dump's default).

use std::io::BufRead;

use super::BackupError;
use super::input::Input;

/// A single value longer than this is refused (a password column never is):
/// it bounds the memory a hostile or broken dump can make the reader hold.
pub const MAX_VALUE: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MySql,
    Postgres,
}

/// One value as bytes in the dump's charset; None for NULL.
pub type Raw = Option<Vec<u8>>;

fn skip_ws<R: BufRead>(input: &mut Input<R>) -> Result<Option<u8>, BackupError> {
    loop {
        match input.peek()? {
            Some(b' ' | b'\t' | b'\r' | b'\n') => {
                input.next()?;
            }
            other => return Ok(other),
        }
    }
}

fn truncated(what: &str, line: u64) -> BackupError {
    BackupError::Syntax {
        line,
        message: format!("the dump ends inside {what} (a truncated file?)"),
    }
}

/// Reads the next tuple of an INSERT; `Ok(None)` after the statement's `;`.
/// `first` is true before the first tuple (no separator precedes it).
pub fn next_tuple<R: BufRead>(
    input: &mut Input<R>,
    flavor: Flavor,
    first: bool,
) -> Result<Option<Vec<Raw>>, BackupError> {
    if !first {
        match skip_ws(input)? {
            Some(b',') => {
                input.next()?;
            }
            Some(b';') => {
                input.next()?;
                return Ok(None);
            }
            None => return Err(truncated("an INSERT statement", input.line)),
            Some(other) => return Err(unexpected(other, "`,` or `;` after a row", input.line)),
        }
    }
    match skip_ws(input)? {
        Some(b'(') => {
            input.next()?;
        }
        None => return Err(truncated("an INSERT statement", input.line)),
        Some(other) => return Err(unexpected(other, "`(` opening a row", input.line)),
    }
    let mut values = Vec::new();
    loop {
        skip_ws(input)?;
        values.push(value(input, flavor)?);
        match skip_ws(input)? {
            Some(b',') => {
                input.next()?;
            }
            Some(b')') => {
                input.next()?;
                return Ok(Some(values));
            }
            None => return Err(truncated("a row", input.line)),
            Some(other) => return Err(unexpected(other, "`,` or `)` after a value", input.line)),
        }
    }
}

fn unexpected(b: u8, wanted: &str, line: u64) -> BackupError {
    BackupError::Syntax {
        line,
        message: format!("found {:?} where {wanted} belongs", char::from(b)),
    }
}

fn push(out: &mut Vec<u8>, b: u8, line: u64) -> Result<(), BackupError> {
    if out.len() >= MAX_VALUE {
        return Err(BackupError::Syntax {
            line,
            message: format!("a value is longer than {MAX_VALUE} bytes"),
        });
    }
    out.push(b);
    Ok(())
}

/// One literal: a quoted string (with the flavour's escapes), NULL, a number
/// or keyword, a hex or bit literal; a charset introducer (`_binary '…'`) or
/// a PostgreSQL cast (`'…'::type`) around it is dropped.
fn value<R: BufRead>(input: &mut Input<R>, flavor: Flavor) -> Result<Raw, BackupError> {
    let line = input.line;
    match input.peek()? {
        None => Err(truncated("a row", line)),
        Some(b'\'') => {
            input.next()?;
            let v = quoted(input, flavor == Flavor::MySql)?;
            cast(input, flavor)?;
            Ok(Some(v))
        }
        Some(_) => {
            let word = bare(input)?;
            let upper = word.to_ascii_uppercase();
            if upper == b"NULL" {
                return Ok(None);
            }
            if input.peek()? == Some(b' ') && word.starts_with(b"_") {
                skip_ws(input)?;
            }
            if input.peek()? == Some(b'\'') {
                input.next()?;
                return prefixed(input, flavor, &upper, line);
            }
            if let Some(hex) = upper.strip_prefix(b"0X") {
                return Ok(Some(unhex(hex, line)?));
            }
            cast(input, flavor)?;
            Ok(Some(word))
        }
    }
}

/// A string after its prefix: E'…' (backslash escapes), X'…' (hex),
/// B'…' (bits), N'…' and `_charset'…'` (plain).
fn prefixed<R: BufRead>(
    input: &mut Input<R>,
    flavor: Flavor,
    prefix: &[u8],
    line: u64,
) -> Result<Raw, BackupError> {
    let backslashes = flavor == Flavor::MySql || prefix == b"E";
    let body = quoted(input, backslashes)?;
    cast(input, flavor)?;
    match prefix {
        b"X" => Ok(Some(unhex(&body, line)?)),
        b"B" => {
            let mut n: u128 = 0;
            for b in &body {
                n = n.saturating_mul(2) | u128::from(*b == b'1');
            }
            Ok(Some(n.to_string().into_bytes()))
        }
        p if p == b"E" || p == b"N" || p.starts_with(b"_") => Ok(Some(body)),
        _ => Err(BackupError::Syntax {
            line,
            message: format!("unknown literal prefix {}", String::from_utf8_lossy(prefix)),
        }),
    }
}

fn unhex(hex: &[u8], line: u64) -> Result<Vec<u8>, BackupError> {
    hex::decode(hex).map_err(|_| BackupError::Syntax {
        line,
        message: "a hex literal is not valid hex".into(),
    })
}

/// An unquoted token: up to a separator or whitespace.
fn bare<R: BufRead>(input: &mut Input<R>) -> Result<Vec<u8>, BackupError> {
    let mut out = Vec::new();
    while let Some(b) = input.peek()? {
        if matches!(
            b,
            b',' | b')' | b'(' | b';' | b' ' | b'\t' | b'\r' | b'\n' | b'\''
        ) || (b == b':' && !out.is_empty())
        {
            break;
        }
        input.next()?;
        push(&mut out, b, input.line)?;
    }
    if out.is_empty() {
        let line = input.line;
        return match input.next()? {
            Some(b) => Err(unexpected(b, "a value", line)),
            None => Err(truncated("a row", line)),
        };
    }
    Ok(out)
}

/// Drops a PostgreSQL cast after a value (`::type`, `::character varying`).
fn cast<R: BufRead>(input: &mut Input<R>, flavor: Flavor) -> Result<(), BackupError> {
    if flavor != Flavor::Postgres || input.peek()? != Some(b':') {
        return Ok(());
    }
    input.next()?;
    if input.next()? != Some(b':') {
        return Err(BackupError::Syntax {
            line: input.line,
            message: "a lone `:` after a value".into(),
        });
    }
    while let Some(b) = input.peek()? {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b' ' | b'"' | b'.' | b'[' | b']') {
            input.next()?;
        } else {
            break;
        }
    }
    Ok(())
}

/// The body of a quoted string, after its opening quote. `''` is a quote;
/// with `backslashes`, `\` escapes as MySQL (and PostgreSQL's E'…') write them.
fn quoted<R: BufRead>(input: &mut Input<R>, backslashes: bool) -> Result<Vec<u8>, BackupError> {
    let start = input.line;
    let mut out = Vec::new();
    loop {
        let Some(b) = input.next()? else {
            return Err(BackupError::Syntax {
                line: start,
                message: "a string that starts here is never closed (a truncated or corrupt dump)"
                    .into(),
            });
        };
        match b {
            b'\'' if input.peek()? == Some(b'\'') => {
                input.next()?;
                push(&mut out, b'\'', start)?;
            }
            b'\'' => return Ok(out),
            b'\\' if backslashes => {
                let Some(e) = input.next()? else {
                    continue;
                };
                let c = match e {
                    b'0' => 0,
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'Z' => 26,
                    // LIKE wildcards keep their backslash in MySQL.
                    b'%' | b'_' => {
                        push(&mut out, b'\\', start)?;
                        e
                    }
                    other => other,
                };
                push(&mut out, c, start)?;
            }
            other => push(&mut out, other, start)?,
        }
    }
}

/// The fields of one `COPY … FROM stdin` text-format line: tab-separated,
/// `\N` for NULL, backslash escapes.
pub fn copy_fields(line: &[u8], line_no: u64) -> Result<Vec<Raw>, BackupError> {
    let mut fields = Vec::new();
    for field in line.split(|b| *b == b'\t') {
        if field == b"\\N" {
            fields.push(None);
            continue;
        }
        let mut out = Vec::with_capacity(field.len());
        let mut i = 0;
        while i < field.len() {
            let b = field[i];
            i += 1;
            if b != b'\\' {
                out.push(b);
                continue;
            }
            let Some(&e) = field.get(i) else {
                return Err(BackupError::Syntax {
                    line: line_no,
                    message: "a COPY field ends with a lone backslash".into(),
                });
            };
            i += 1;
            match e {
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'v' => out.push(11),
                b'0'..=b'7' => {
                    let mut n = u32::from(e - b'0');
                    for _ in 0..2 {
                        match field.get(i) {
                            Some(d @ b'0'..=b'7') => {
                                n = n * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    out.push((n & 0xff) as u8);
                }
                b'x' => {
                    let mut n = 0u32;
                    let mut digits = 0;
                    while digits < 2 {
                        match field.get(i).and_then(|d| char::from(*d).to_digit(16)) {
                            Some(d) => {
                                n = n * 16 + d;
                                i += 1;
                                digits += 1;
                            }
                            None => break,
                        }
                    }
                    if digits == 0 {
                        out.push(b'x');
                    } else {
                        out.push(n as u8);
                    }
                }
                other => out.push(other),
            }
        }
        fields.push(Some(out));
    }
    Ok(fields)
}
