//! The dump scanner: mysqldump output and pg_dump's plain format, read as a
//! stream. Only the wanted tables' column lists and rows are parsed; every
//! other line is skipped without being held. In a dump of several databases
//! only the section (`USE`, `\connect`) named like the live database counts.

use std::io::BufRead;

use super::BackupError;
use super::input::Input;
use super::values::{self, Flavor, Raw};

/// Rows kept per table at most: a query matches a key or a login.
const MAX_ROWS: usize = 64;

/// Rows of one table whose column `matches[i].0` equals `matches[i].1` for some i.
#[derive(Debug, Clone)]
pub struct TableQuery {
    pub table: String,
    pub matches: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct TableFound {
    /// The table's data (or structure) was seen in the wanted section.
    pub seen: bool,
    pub columns: Vec<String>,
    /// Matching rows, decoded from the dump's charset.
    pub rows: Vec<Vec<Option<String>>>,
}

impl TableFound {
    pub fn value<'a>(&self, row: &'a [Option<String>], column: &str) -> Option<&'a Option<String>> {
        let i = self.columns.iter().position(|c| c == column)?;
        row.get(i)
    }
}

#[derive(Debug, Clone)]
pub struct Scanned {
    pub flavor: Flavor,
    /// The dump's own date (`-- Dump completed on …`, `-- Started on …`).
    pub dumped_at: Option<String>,
    /// Database sections the dump holds (`USE`, `\connect`), in order.
    pub databases: Vec<String>,
    pub tables: Vec<TableFound>,
}

struct Scan<'q> {
    flavor: Flavor,
    database: Option<&'q str>,
    queries: &'q [TableQuery],
    current_db: Option<String>,
    charset: &'static encoding_rs::Encoding,
    out: Scanned,
}

/// Scans a dump for the queried tables' rows. `database` is the live
/// database's name: in a dump with several sections, only its section counts.
pub fn scan<R: BufRead>(
    reader: R,
    database: Option<&str>,
    queries: &[TableQuery],
) -> Result<Scanned, BackupError> {
    let mut input = Input::new(reader);
    let mut head = Vec::new();
    let flavor = sniff(&mut input, &mut head)?;
    let mut scan = Scan {
        flavor,
        database,
        queries,
        current_db: None,
        charset: encoding_rs::UTF_8,
        out: Scanned {
            flavor,
            dumped_at: None,
            databases: Vec::new(),
            tables: vec![TableFound::default(); queries.len()],
        },
    };
    while let Some(complete) = input.read_head(&mut head)? {
        scan.line(&mut input, &head, complete)?;
    }
    Ok(scan.out)
}

/// The first lines say which program wrote the dump; they are handed back.
fn sniff<R: BufRead>(input: &mut Input<R>, head: &mut Vec<u8>) -> Result<Flavor, BackupError> {
    let mut seen = Vec::new();
    for _ in 0..8 {
        let Some(complete) = input.read_head(head)? else {
            break;
        };
        seen.extend_from_slice(head);
        seen.push(b'\n');
        let text = String::from_utf8_lossy(head);
        let flavor = if text.starts_with("-- MySQL dump") || text.starts_with("-- MariaDB dump") {
            Some(Flavor::MySql)
        } else if text.starts_with("-- PostgreSQL database") {
            Some(Flavor::Postgres)
        } else {
            None
        };
        if !complete {
            input.skip_line()?;
        }
        if let Some(f) = flavor {
            input.unread(&seen);
            return Ok(f);
        }
    }
    Err(BackupError::NotADump)
}

/// `name`, `` `db`.`name` ``, `"schema"."name"`, `schema.name` → the last part, unquoted.
fn ident_list_name(text: &str) -> String {
    split_qualified(text).pop().unwrap_or_default()
}

fn split_qualified(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match quote {
            Some(q) if ch == q => {
                if chars.peek() == Some(&q) {
                    chars.next();
                    cur.push(q);
                } else {
                    quote = None;
                }
            }
            Some(_) => cur.push(ch),
            None if ch == '`' || ch == '"' => quote = Some(ch),
            None if ch == '.' => parts.push(std::mem::take(&mut cur)),
            None => cur.push(ch),
        }
    }
    parts.push(cur);
    parts
}

/// The first identifier of `text` (quoted or not) and what follows it.
fn take_ident(text: &str) -> (String, &str) {
    let t = text.trim_start();
    let mut end = 0;
    let mut quote: Option<char> = None;
    let mut iter = t.char_indices().peekable();
    while let Some((i, ch)) = iter.next() {
        end = i + ch.len_utf8();
        match quote {
            Some(q) if ch == q => {
                if iter.peek().map(|p| p.1) == Some(q) {
                    iter.next();
                    end += q.len_utf8();
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None if ch == '`' || ch == '"' => quote = Some(ch),
            None if ch.is_whitespace() || matches!(ch, '(' | ')' | ',' | ';') => {
                end = i;
                break;
            }
            None => {}
        }
    }
    (ident_list_name(&t[..end]), &t[end..])
}

/// `(a, "b", `c`)` → the names; `None` when `text` does not start with `(`.
fn column_list(text: &str) -> Option<(Vec<String>, &str)> {
    let t = text.trim_start().strip_prefix('(')?;
    let mut names = Vec::new();
    let mut rest = t;
    loop {
        let (name, after) = take_ident(rest.trim_start().trim_start_matches(','));
        if !name.is_empty() {
            names.push(name);
        }
        let after = after.trim_start();
        if let Some(r) = after.strip_prefix(')') {
            return Some((names, r));
        }
        if !after.starts_with(',') || after.is_empty() {
            return None;
        }
        rest = after;
    }
}

/// The longest valid UTF-8 prefix (statements' keywords and names are ASCII;
/// values after them may be in any charset).
fn utf8_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

impl Scan<'_> {
    fn in_section(&self) -> bool {
        match (self.database, &self.current_db) {
            (Some(want), Some(cur)) => want == cur,
            _ => true,
        }
    }

    fn wanted(&self, table: &str) -> Option<usize> {
        if !self.in_section() {
            return None;
        }
        self.queries.iter().position(|q| q.table == table)
    }

    fn line<R: BufRead>(
        &mut self,
        input: &mut Input<R>,
        head: &[u8],
        complete: bool,
    ) -> Result<(), BackupError> {
        // Only the first bytes decide what a line is; data lines are skipped fast.
        let lead_text = utf8_prefix(&head[..head.len().min(512)]);
        let t = lead_text.trim_start();
        if let Some(rest) = strip_prefix_ci(t, "INSERT INTO ") {
            let (table, after) = take_ident(rest);
            if let Some(q) = self.wanted(&table) {
                let offset = lead_text.len() - after.len();
                return self.insert(input, head, offset, complete, q);
            }
        } else if strip_prefix_ci(t, "COPY ").is_some() {
            return self.copy(input, head, complete);
        } else if complete {
            let full = String::from_utf8_lossy(head);
            self.statement(input, full.trim())?;
            return Ok(());
        }
        if !complete {
            input.skip_line()?;
        }
        Ok(())
    }

    /// Short lines: sections, charsets, dates, table structures.
    fn statement<R: BufRead>(&mut self, input: &mut Input<R>, t: &str) -> Result<(), BackupError> {
        if let Some(date) = t
            .strip_prefix("-- Dump completed on ")
            .or_else(|| t.strip_prefix("-- Started on "))
            .or_else(|| t.strip_prefix("-- Completed on "))
        {
            self.out
                .dumped_at
                .get_or_insert_with(|| date.trim().to_string());
        } else if let Some(rest) =
            strip_prefix_ci(t, "USE ").filter(|_| self.flavor == Flavor::MySql)
        {
            let (db, _) = take_ident(rest);
            self.enter(db);
        } else if let Some(rest) = t.strip_prefix("\\connect ") {
            let db = rest
                .split_whitespace()
                .find(|w| !w.starts_with('-'))
                .map(|w| ident_list_name(w.trim_matches('\'')))
                .unwrap_or_default();
            self.enter(db);
        } else if let Some(name) = charset_of(t) {
            self.charset = charset(&name, input.line)?;
        } else if let Some(rest) = strip_prefix_ci(t, "CREATE TABLE ") {
            let rest = strip_prefix_ci(rest, "IF NOT EXISTS ").unwrap_or(rest);
            let (table, _) = take_ident(rest);
            if let Some(q) = self.wanted(&table) {
                self.structure(input, q)?;
            }
        }
        Ok(())
    }

    fn enter(&mut self, db: String) {
        if !self.out.databases.contains(&db) {
            self.out.databases.push(db.clone());
        }
        self.current_db = Some(db);
    }

    /// The column lines of a `CREATE TABLE … (` up to its closing `)`.
    fn structure<R: BufRead>(&mut self, input: &mut Input<R>, q: usize) -> Result<(), BackupError> {
        let mut head = Vec::new();
        let mut columns = Vec::new();
        loop {
            let Some(complete) = input.read_head(&mut head)? else {
                return Err(BackupError::Syntax {
                    line: input.line,
                    message: "the dump ends inside a CREATE TABLE".into(),
                });
            };
            if !complete {
                input.skip_line()?;
            }
            let line = String::from_utf8_lossy(&head);
            let t = line.trim();
            if t.starts_with(')') {
                break;
            }
            let first = t
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            const NOT_COLUMNS: [&str; 11] = [
                "PRIMARY",
                "KEY",
                "UNIQUE",
                "INDEX",
                "CONSTRAINT",
                "FULLTEXT",
                "SPATIAL",
                "CHECK",
                "FOREIGN",
                "PERIOD",
                "EXCLUDE",
            ];
            if t.is_empty() || NOT_COLUMNS.contains(&first.as_str()) {
                continue;
            }
            let (name, _) = take_ident(t);
            columns.push(name);
        }
        self.set_columns(q, columns, input.line)
    }

    /// A table's column list. Rows already kept under another list would no
    /// longer line up with it: a table defined twice is refused.
    fn set_columns(
        &mut self,
        q: usize,
        columns: Vec<String>,
        line: u64,
    ) -> Result<(), BackupError> {
        let found = &mut self.out.tables[q];
        found.seen = true;
        if !found.rows.is_empty() && found.columns != columns {
            return Err(BackupError::Syntax {
                line,
                message: format!(
                    "the table `{}` appears again with other columns after rows of it",
                    self.queries[q].table
                ),
            });
        }
        found.columns = columns;
        Ok(())
    }

    fn insert<R: BufRead>(
        &mut self,
        input: &mut Input<R>,
        head: &[u8],
        offset: usize,
        complete: bool,
        q: usize,
    ) -> Result<(), BackupError> {
        let rest = utf8_prefix(&head[offset..]);
        let (columns, values_at) = match column_list(rest) {
            Some((cols, after)) => (Some(cols), rest.len() - after.len()),
            None => (None, 0),
        };
        let after = &rest[values_at..];
        let Some(tuples) = strip_prefix_ci(after.trim_start(), "VALUES") else {
            return Err(BackupError::Syntax {
                line: input.line,
                message: format!("an INSERT into `{}` without VALUES", self.queries[q].table),
            });
        };
        let start = offset + values_at + (after.len() - tuples.len());
        let mut pushed = head[start..].to_vec();
        if complete {
            pushed.push(b'\n');
        }
        input.unread(&pushed);
        if let Some(cols) = columns {
            self.set_columns(q, cols, input.line)?;
        }
        self.out.tables[q].seen = true;
        let mut first = true;
        while let Some(tuple) = values::next_tuple(input, self.flavor, first)? {
            first = false;
            self.row(q, tuple, input.line)?;
        }
        Ok(())
    }

    fn copy<R: BufRead>(
        &mut self,
        input: &mut Input<R>,
        head: &[u8],
        complete: bool,
    ) -> Result<(), BackupError> {
        let full = utf8_prefix(head);
        let rest = strip_prefix_ci(full.trim_start(), "COPY ").unwrap_or_default();
        let (table, after) = take_ident(rest);
        let wanted = self.wanted(&table);
        if let Some(q) = wanted {
            if !complete {
                return Err(BackupError::Syntax {
                    line: input.line,
                    message: format!("the COPY line of `{table}` is too long"),
                });
            }
            if let Some((cols, _)) = column_list(after) {
                self.set_columns(q, cols, input.line)?;
            }
            self.out.tables[q].seen = true;
        } else if !complete {
            input.skip_line()?;
        }
        let mut line = Vec::new();
        loop {
            let line_no = input.line;
            let Some(complete) = input.read_head(&mut line)? else {
                return Err(BackupError::Syntax {
                    line: line_no,
                    message: format!("the dump ends inside the COPY data of `{table}` (no `\\.`)"),
                });
            };
            if line == b"\\." {
                return Ok(());
            }
            match wanted {
                None if !complete => input.skip_line()?,
                None => {}
                Some(_) if !complete => {
                    return Err(BackupError::Syntax {
                        line: line_no,
                        message: format!("a COPY row of `{table}` is longer than 64 KiB"),
                    });
                }
                Some(q) => {
                    let fields = values::copy_fields(&line, line_no)?;
                    self.row(q, fields, line_no)?;
                }
            }
        }
    }

    /// Checks a row against its header and keeps it when a query matches.
    fn row(&mut self, q: usize, raw: Vec<Raw>, line: u64) -> Result<(), BackupError> {
        let table = &self.queries[q].table;
        let found = &self.out.tables[q];
        if found.columns.is_empty() {
            return Err(BackupError::Syntax {
                line,
                message: format!(
                    "rows of `{table}` come before its column list (no CREATE TABLE or column names)"
                ),
            });
        }
        if raw.len() != found.columns.len() {
            return Err(BackupError::Syntax {
                line,
                message: format!(
                    "a row of `{table}` has {} values but its header has {} columns",
                    raw.len(),
                    found.columns.len()
                ),
            });
        }
        let mut keep = false;
        for (col, want) in &self.queries[q].matches {
            let Some(i) = found.columns.iter().position(|c| c == col) else {
                return Err(BackupError::MissingColumn {
                    table: table.clone(),
                    column: col.clone(),
                });
            };
            if raw[i].as_deref() == Some(want.as_bytes()) {
                keep = true;
            } else if let Some(v) = &raw[i]
                && self.decode(v, line)? == *want
            {
                keep = true;
            }
        }
        if !keep {
            return Ok(());
        }
        let mut row = Vec::with_capacity(raw.len());
        for v in &raw {
            row.push(match v {
                None => None,
                Some(bytes) => Some(self.decode(bytes, line)?),
            });
        }
        let found = &mut self.out.tables[q];
        if found.rows.len() < MAX_ROWS {
            found.rows.push(row);
        }
        Ok(())
    }

    fn decode(&self, bytes: &[u8], line: u64) -> Result<String, BackupError> {
        if let Ok(s) = std::str::from_utf8(bytes)
            && (self.charset == encoding_rs::UTF_8 || bytes.is_ascii())
        {
            return Ok(s.to_string());
        }
        self.charset
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|c| c.into_owned())
            .ok_or_else(|| BackupError::Syntax {
                line,
                message: format!("a value is not valid {}", self.charset.name()),
            })
    }
}

/// `SET NAMES x`, `/*!40101 SET NAMES x */;`, `SET client_encoding = 'X';`.
fn charset_of(t: &str) -> Option<String> {
    let t = t.trim_start_matches("/*!40101").trim();
    let rest = strip_prefix_ci(t, "SET NAMES ")
        .or_else(|| strip_prefix_ci(t, "SET client_encoding = "))?;
    let name = rest
        .split(|c: char| c.is_whitespace() || c == ';' || c == '*')
        .next()?
        .trim_matches('\'');
    Some(name.to_string())
}

/// MySQL's and PostgreSQL's charset names → an encoding.
fn charset(name: &str, line: u64) -> Result<&'static encoding_rs::Encoding, BackupError> {
    let lower = name.to_ascii_lowercase();
    let label = match lower.as_str() {
        "utf8" | "utf8mb3" | "utf8mb4" | "sql_ascii" | "binary" | "ascii" => "utf-8",
        "latin1" => "windows-1252",
        "cp932" => "windows-31j",
        "euckr" | "euc_kr" => "euc-kr",
        "ujis" | "eucjpms" | "euc_jp" => "euc-jp",
        "win1250" | "cp1250" => "windows-1250",
        "win1251" | "cp1251" => "windows-1251",
        "win1252" => "windows-1252",
        other => other,
    };
    encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| BackupError::Syntax {
        line,
        message: format!("the dump's charset `{name}` is not one Locksmith can read"),
    })
}
