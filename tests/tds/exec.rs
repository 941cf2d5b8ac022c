//! One TDS session: a rusqlite connection, transaction state and the
//! statement runner that turns results into tokens.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode};
use sqlparser::ast::Statement;

use super::locks::{Key, LockMode, Previous};
use super::scan::{self, Scan, Write};
use super::sql::{self, Ctx, Hint, TdsError};
use super::wire::{self, ColType, Column, Tokens};
use super::{Shared, UpdatePermission};

/// SQL Server's default LOCK_TIMEOUT is -1 (wait for ever); the endpoint waits
/// this long at most so that a test that forgets to release a row fails instead of hanging.
const LOCK_WAIT_CAP: Duration = Duration::from_secs(60);

/// Errors after which SQL Server goes on with the rest of the batch (without
/// XACT_ABORT): the statement fails, the batch and the transaction do not.
const STATEMENT_ERRORS: &[u32] = &[2627, 2601, 515, 547, 1222, 2628, 8152, 8115, 229, 230];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Isolation {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

/// How to put a row back when the transaction rolls back.
enum Undo {
    /// An UPDATE changed it: the whole row as it was.
    Restore {
        table: String,
        rowid: i64,
        columns: Vec<String>,
        values: Vec<Value>,
    },
    /// A DELETE removed it.
    Reinsert {
        table: String,
        rowid: i64,
        columns: Vec<String>,
        values: Vec<Value>,
    },
    /// An INSERT added it.
    Remove { table: String, rowid: i64 },
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A width-limited or integer column, from its declared type.
#[derive(Debug, Clone)]
enum Limit {
    /// varchar/char: bytes in code page 936.
    Bytes936(usize),
    /// nvarchar/nchar: UTF-16 code units.
    Utf16(usize),
    /// varbinary/binary: bytes.
    Binary(usize),
    /// int types: the range and the type's name.
    Int(i64, i64, &'static str),
}

fn limit_of(decl: &str) -> Option<Limit> {
    let d = decl.trim().to_lowercase();
    let base = d.split('(').next().unwrap_or("").trim();
    let n = d
        .split_once('(')
        .and_then(|(_, r)| r.trim_end_matches(')').trim().parse::<i64>().ok());
    let width = |n: Option<i64>| match n {
        Some(n) if n > 0 => Some(n as usize),
        // (MAX) is stored as (-1); a bare char/varchar is 1 wide.
        Some(_) => None,
        None => Some(1),
    };
    match base {
        "varchar" | "char" => width(n).map(Limit::Bytes936),
        "nvarchar" | "nchar" => width(n).map(Limit::Utf16),
        "varbinary" | "binary" => width(n).map(Limit::Binary),
        "int" => Some(Limit::Int(i32::MIN as i64, i32::MAX as i64, "int")),
        "smallint" => Some(Limit::Int(i16::MIN as i64, i16::MAX as i64, "smallint")),
        "tinyint" => Some(Limit::Int(0, 255, "tinyint")),
        "bigint" => Some(Limit::Int(i64::MIN, i64::MAX, "bigint")),
        _ => None,
    }
}

const VIEWS: &str = r#"
CREATE TEMP VIEW IF NOT EXISTS information_schema_columns AS
SELECT '{db}' AS TABLE_CATALOG, 'dbo' COLLATE NOCASE AS TABLE_SCHEMA, m.name COLLATE NOCASE AS TABLE_NAME,
       p.name COLLATE NOCASE AS COLUMN_NAME,
       p.cid + 1 AS ORDINAL_POSITION, p.dflt_value AS COLUMN_DEFAULT,
       CASE WHEN p."notnull" = 1 OR p.pk > 0 THEN 'NO' ELSE 'YES' END AS IS_NULLABLE,
       replace(lower(trim(CASE WHEN instr(p.type, '(') > 0 THEN substr(p.type, 1, instr(p.type, '(') - 1) ELSE p.type END)), 'integer', 'int') AS DATA_TYPE,
       CASE WHEN instr(p.type, '(') > 0 AND (lower(p.type) LIKE '%char%' OR lower(p.type) LIKE '%binary%')
            THEN CAST(substr(p.type, instr(p.type, '(') + 1) AS INTEGER) ELSE NULL END AS CHARACTER_MAXIMUM_LENGTH
FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%';
CREATE TEMP VIEW IF NOT EXISTS sys_columns AS
SELECT m.name COLLATE NOCASE AS object_id, p.name COLLATE NOCASE AS name, p.cid + 1 AS column_id
FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%';
"#;

pub struct Session {
    conn: Connection,
    shared: Arc<Shared>,
    spid: u32,
    rowcount: i64,
    /// `@@ERROR`: the previous statement's error number.
    error: u32,
    nocount: bool,
    xact_abort: bool,
    isolation: Isolation,
    /// None: SET LOCK_TIMEOUT -1 (capped at LOCK_WAIT_CAP).
    lock_timeout: Option<Duration>,
    trancount: u32,
    tran_desc: u64,
    /// The table `SET IDENTITY_INSERT … ON` names (lower case).
    identity_insert: Option<String>,
    /// Every statement runs on SQLite at once (so other sessions' row locks,
    /// not SQLite's database lock, decide who waits); a ROLLBACK undoes these.
    undo: Vec<Undo>,
}

impl Drop for Session {
    /// SQL Server rolls back the open transaction of a connection that goes away.
    fn drop(&mut self) {
        self.rollback_all();
    }
}

enum Mode {
    Batch,
    Proc,
}

impl Session {
    pub fn open(shared: Arc<Shared>) -> rusqlite::Result<Session> {
        let conn = Connection::open(&shared.db_path)?;
        // SQLite's own lock is held for one statement at a time only.
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(&VIEWS.replace("{db}", &shared.opts.database.replace('\'', "''")))?;
        super::like::register(&conn)?;
        let spid = shared.next_spid.fetch_add(1, Ordering::SeqCst);
        Ok(Session {
            conn,
            shared,
            spid,
            rowcount: 0,
            error: 0,
            nocount: false,
            xact_abort: false,
            isolation: Isolation::ReadCommitted,
            lock_timeout: None,
            trancount: 0,
            tran_desc: 0,
            identity_insert: None,
            undo: Vec::new(),
        })
    }

    fn log(&self, s: &str) {
        self.shared.statements.lock().unwrap().push(s.to_string());
    }

    pub fn sql_batch(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut r = wire::Reader::new(payload);
        let mut t = Tokens::default();
        if r.all_headers().is_err() {
            r.pos = 0;
        }
        let text = wire::from_utf16(r.remaining());
        self.log(&text);
        let mut last = None;
        let res = self.run_text(&text, &HashMap::new(), &mut t, Mode::Batch, &mut last);
        self.finish(&mut t, res, wire::TOKEN_DONE, last);
        t.buf
    }

    /// One batch run in-process (loading a fixture): any error ends it, as
    /// under XACT_ABORT ON, and is returned as SQL Server would word it.
    pub fn execute(&mut self, text: &str) -> Result<(), String> {
        self.log(text);
        let mut t = Tokens::default();
        let mut last = None;
        let abort = self.xact_abort;
        self.xact_abort = true;
        let res = self.run_text(text, &HashMap::new(), &mut t, Mode::Batch, &mut last);
        self.xact_abort = abort;
        res.map_err(|e| format!("Msg {}: {}", e.number, e.msg))
    }

    pub fn rpc(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut t = Tokens::default();
        let res = self.rpc_inner(payload, &mut t);
        if let Err(e) = res {
            t.error(e.number, 1, e.class, &e.msg);
            t.done(wire::TOKEN_DONEPROC, wire::DONE_ERROR, 0, 0);
        }
        t.buf
    }

    fn rpc_inner(&mut self, payload: &[u8], t: &mut Tokens) -> Result<(), TdsError> {
        let proto = |e: String| TdsError::new(8009, format!("Malformed RPC request: {e}"));
        let mut r = wire::Reader::new(payload);
        r.all_headers().map_err(proto)?;
        let n = r.u16().map_err(proto)?;
        if n == 0xFFFF {
            let id = r.u16().map_err(proto)?;
            if id != 10 {
                return Err(TdsError::unsupported(format_args!(
                    "RPC procedure id {id} (only sp_executesql, id 10)"
                )));
            }
        } else {
            let name = wire::from_utf16(r.take(n as usize * 2).map_err(proto)?);
            let short = name
                .rsplit('.')
                .next()
                .unwrap_or("")
                .trim_matches(['[', ']'])
                .to_lowercase();
            if short != "sp_executesql" {
                return Err(TdsError::new(
                    2812,
                    format!("Could not find stored procedure '{name}'."),
                ));
            }
        }
        let _flags = r.u16().map_err(proto)?;
        let mut positional = Vec::new();
        let mut params = HashMap::new();
        while !r.remaining().is_empty() {
            let (name, v) = r.rpc_param().map_err(proto)?;
            if positional.len() < 2 {
                positional.push(v);
            } else {
                params.insert(name.to_lowercase(), v);
            }
        }
        let Some(Value::Text(stmt)) = positional.first().cloned() else {
            return Err(TdsError::new(
                214,
                "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.",
            ));
        };
        self.log(&stmt);
        let mut last = None;
        let res = self.run_text(&stmt, &params, t, Mode::Proc, &mut last);
        if let Err(e) = res {
            t.error(e.number, 1, e.class, &e.msg);
            t.done(
                wire::TOKEN_DONEINPROC,
                wire::DONE_ERROR | wire::DONE_MORE,
                0,
                0,
            );
            t.return_status(-6);
            t.done(wire::TOKEN_DONEPROC, wire::DONE_ERROR, 0, 0);
            return Ok(());
        }
        t.return_status(0);
        t.done(wire::TOKEN_DONEPROC, wire::DONE_FINAL, 0, 0);
        Ok(())
    }

    fn finish(
        &mut self,
        t: &mut Tokens,
        res: Result<(), TdsError>,
        token: u8,
        last: Option<usize>,
    ) {
        match res {
            Err(e) => {
                t.error(e.number, 1, e.class, &e.msg);
                t.done(token, wire::DONE_ERROR, 0, 0);
            }
            Ok(()) => match last {
                Some(pos) => {
                    let status =
                        u16::from_le_bytes([t.buf[pos + 1], t.buf[pos + 2]]) & !wire::DONE_MORE;
                    t.buf[pos + 1..pos + 3].copy_from_slice(&status.to_le_bytes());
                }
                None => t.done(token, wire::DONE_FINAL, 0, 0),
            },
        }
    }

    fn done(&self, t: &mut Tokens, mode: &Mode, count: Option<u64>, last: &mut Option<usize>) {
        let token = match mode {
            Mode::Batch => wire::TOKEN_DONE,
            Mode::Proc => wire::TOKEN_DONEINPROC,
        };
        *last = Some(t.buf.len());
        match count {
            Some(n) if !self.nocount => t.done(token, wire::DONE_MORE | wire::DONE_COUNT, 0xC1, n),
            _ => t.done(token, wire::DONE_MORE, 0, 0),
        }
    }

    fn run_text(
        &mut self,
        text: &str,
        params: &HashMap<String, Value>,
        t: &mut Tokens,
        mode: Mode,
        last: &mut Option<usize>,
    ) -> Result<(), TdsError> {
        let (stmts, fetch) = sql::parse_batch(text)?;
        for st in stmts {
            match self.exec_stmt(st, params, &fetch, t, &mode, last) {
                Ok(()) => self.error = 0,
                Err(e) => {
                    self.error = e.number;
                    if self.xact_abort {
                        // XACT_ABORT ON: any run-time error ends the batch and the transaction.
                        self.rollback_all();
                        return Err(e);
                    }
                    if !STATEMENT_ERRORS.contains(&e.number) {
                        return Err(e);
                    }
                    let token = match mode {
                        Mode::Batch => wire::TOKEN_DONE,
                        Mode::Proc => wire::TOKEN_DONEINPROC,
                    };
                    t.error(e.number, 1, e.class, &e.msg);
                    *last = Some(t.buf.len());
                    t.done(token, wire::DONE_ERROR | wire::DONE_MORE, 0, 0);
                }
            }
        }
        Ok(())
    }

    /// ROLLBACK, a dropped connection or XACT_ABORT: undo every change of the
    /// transaction, newest first, and give back its locks.
    fn rollback_all(&mut self) {
        self.trancount = 0;
        if !self.undo.is_empty() {
            let undo = std::mem::take(&mut self.undo);
            let _ = self.conn.execute_batch("BEGIN IMMEDIATE");
            for u in undo.into_iter().rev() {
                let _ = self.apply_undo(u);
            }
            let _ = self.conn.execute_batch("COMMIT");
        }
        self.shared.locks.release_all(self.spid);
    }

    fn apply_undo(&self, u: Undo) -> rusqlite::Result<usize> {
        match u {
            Undo::Restore {
                table,
                rowid,
                columns,
                mut values,
            } => {
                let sets: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{} = ?{}", quoted(c), i + 1))
                    .collect();
                values.push(Value::Integer(rowid));
                let sql = format!(
                    "UPDATE {} SET {} WHERE rowid = ?{}",
                    quoted(&table),
                    sets.join(", "),
                    values.len()
                );
                self.conn
                    .execute(&sql, rusqlite::params_from_iter(values.iter()))
            }
            Undo::Reinsert {
                table,
                rowid,
                columns,
                mut values,
            } => {
                let cols: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
                let phs: Vec<String> = (1..=values.len() + 1).map(|i| format!("?{i}")).collect();
                values.push(Value::Integer(rowid));
                let sql = format!(
                    "INSERT INTO {} ({}, rowid) VALUES ({})",
                    quoted(&table),
                    cols.join(", "),
                    phs.join(", ")
                );
                self.conn
                    .execute(&sql, rusqlite::params_from_iter(values.iter()))
            }
            Undo::Remove { table, rowid } => self.conn.execute(
                &format!("DELETE FROM {} WHERE rowid = ?1", quoted(&table)),
                [rowid],
            ),
        }
    }

    fn wait_limit(&self, hints: &[String]) -> Option<Duration> {
        if hints.iter().any(|h| h == "NOWAIT") {
            return Some(Duration::ZERO);
        }
        Some(self.lock_timeout.unwrap_or(LOCK_WAIT_CAP))
    }

    /// The table's one-column primary key, if it has one.
    fn primary_key(&self, table: &str) -> Option<String> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0")
            .ok()?;
        let cols: Vec<String> = st
            .query_map([table], |r| r.get(0))
            .ok()?
            .flatten()
            .collect();
        (cols.len() == 1).then(|| cols[0].clone())
    }

    fn known_table(&self, table: &str) -> Option<String> {
        self.tables()
            .into_iter()
            .find(|t| t.eq_ignore_ascii_case(table))
    }

    fn rowids(&self, sql: &str, params: &HashMap<String, Value>) -> Result<Vec<i64>, TdsError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.map_err(e))?;
        bind(&mut stmt, params)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.map_err(e))? {
            out.push(r.get::<_, i64>(0).map_err(|e| self.map_err(e))?);
        }
        Ok(out)
    }

    /// The rows an access to `scan` touches: the pinned key's row (a seek),
    /// or every row (a scan).
    fn candidates(
        &self,
        table: &str,
        scan: &Scan,
        params: &HashMap<String, Value>,
    ) -> Result<Vec<Key>, TdsError> {
        let pinned = match (self.primary_key(table), &scan.selection) {
            (Some(pk), Some(sel)) => scan::pinned_key(sel, &pk, &scan.qualifier).map(|v| (pk, v)),
            _ => None,
        };
        let sql = match pinned {
            Some((pk, v)) => format!(
                "SELECT rowid FROM {} WHERE {} = {v}",
                quoted(table),
                quoted(&pk)
            ),
            None => format!("SELECT rowid FROM {}", quoted(table)),
        };
        let key = table.to_lowercase();
        Ok(self
            .rowids(&sql, params)?
            .into_iter()
            .map(|r| (key.clone(), r))
            .collect())
    }

    /// Takes the locks the statement's reads need. Returns what to give back
    /// when the statement ends (locks that do not last to the end of the transaction).
    fn lock_reads(
        &self,
        reads: &[Scan],
        params: &HashMap<String, Value>,
    ) -> Result<Previous, TdsError> {
        let mut statement_only = Vec::new();
        for scan in reads {
            let Some(table) = self.known_table(&scan.table) else {
                continue;
            };
            let has = |w: &str| scan.hints.iter().any(|h| h == w);
            let mode = if has("XLOCK") {
                LockMode::X
            } else if has("UPDLOCK") {
                LockMode::U
            } else {
                LockMode::S
            };
            let dirty = has("NOLOCK")
                || has("READUNCOMMITTED")
                || (self.isolation == Isolation::ReadUncommitted && !has("READCOMMITTED"));
            if mode == LockMode::S && dirty {
                continue;
            }
            let to_the_end = self.trancount > 0
                && (mode != LockMode::S
                    || has("HOLDLOCK")
                    || has("SERIALIZABLE")
                    || has("REPEATABLEREAD")
                    || self.isolation >= Isolation::RepeatableRead);
            let keys = match self.candidates(&table, scan, params) {
                Ok(k) => k,
                Err(e) => {
                    self.shared.locks.restore(self.spid, statement_only);
                    return Err(e);
                }
            };
            match self
                .shared
                .locks
                .acquire(self.spid, &keys, mode, self.wait_limit(&scan.hints))
            {
                Ok(prev) if !to_the_end => statement_only.extend(prev),
                Ok(_) => {}
                Err(e) => {
                    self.shared.locks.restore(self.spid, statement_only);
                    return Err(e);
                }
            }
        }
        Ok(statement_only)
    }

    fn tables(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(mut s) = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            && let Ok(rows) = s.query_map([], |r| r.get::<_, String>(0))
        {
            out.extend(rows.flatten());
        }
        out
    }

    fn exec_stmt(
        &mut self,
        mut st: Statement,
        params: &HashMap<String, Value>,
        fetch: &HashMap<u64, String>,
        t: &mut Tokens,
        mode: &Mode,
        last: &mut Option<usize>,
    ) -> Result<(), TdsError> {
        match &st {
            Statement::StartTransaction { .. } => {
                if self.trancount == 0 {
                    self.tran_desc = self.shared.next_tran.fetch_add(1, Ordering::SeqCst);
                    t.envchange_bytes(8, &self.tran_desc.to_le_bytes(), &[]);
                }
                self.trancount += 1;
                self.rowcount = 0;
                self.done(t, mode, None, last);
                return Ok(());
            }
            Statement::Commit { .. } => {
                if self.trancount == 0 {
                    return Err(TdsError::new(
                        3902,
                        "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.",
                    ));
                }
                self.trancount -= 1;
                if self.trancount == 0 {
                    // Every change is in SQLite already: committing forgets the undo and the locks.
                    self.undo.clear();
                    self.shared.locks.release_all(self.spid);
                    t.envchange_bytes(9, &[], &self.tran_desc.to_le_bytes());
                }
                self.rowcount = 0;
                self.done(t, mode, None, last);
                return Ok(());
            }
            Statement::Rollback { savepoint, .. } => {
                if savepoint.is_some() {
                    return Err(TdsError::unsupported("ROLLBACK to a savepoint"));
                }
                if self.trancount == 0 {
                    return Err(TdsError::new(
                        3903,
                        "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.",
                    ));
                }
                self.rollback_all();
                t.envchange_bytes(10, &[], &self.tran_desc.to_le_bytes());
                self.done(t, mode, None, last);
                return Ok(());
            }
            Statement::Set(_) => {
                let text = st.to_string();
                let words: Vec<&str> = text.split_whitespace().collect();
                let name = words.get(1).map(|w| w.to_uppercase()).unwrap_or_default();
                let value = words
                    .get(2..)
                    .map(|w| w.join(" "))
                    .unwrap_or_default()
                    .to_uppercase();
                self.set_option(&name, &value)?;
                self.rowcount = 0;
                self.done(t, mode, None, last);
                return Ok(());
            }
            Statement::If(ifs) => {
                let mut blocks = vec![&ifs.if_block];
                blocks.extend(ifs.elseif_blocks.iter());
                for b in blocks {
                    let Some(cond) = &b.condition else { continue };
                    if self.eval_condition(cond, params, fetch)? {
                        for s in b.conditional_statements.statements().clone() {
                            self.exec_stmt(s, params, fetch, t, mode, last)?;
                        }
                        return Ok(());
                    }
                }
                if let Some(b) = &ifs.else_block {
                    for s in b.conditional_statements.statements().clone() {
                        self.exec_stmt(s, params, fetch, t, mode, last)?;
                    }
                }
                return Ok(());
            }
            Statement::Use(u) => {
                let name = u.to_string();
                let db = name
                    .trim_start_matches("USE ")
                    .trim()
                    .trim_matches(['[', ']'])
                    .to_string();
                if db.eq_ignore_ascii_case(&self.shared.opts.database) {
                    self.rowcount = 0;
                    self.done(t, mode, None, last);
                    return Ok(());
                }
                return Err(TdsError::new(
                    911,
                    format!(
                        "Database '{db}' does not exist. Make sure that the name is entered correctly."
                    ),
                ));
            }
            Statement::Query(_)
            | Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::CreateTable(_)
            | Statement::CreateIndex(_)
            | Statement::Drop { .. } => {}
            other => {
                let text = other.to_string();
                let head: Vec<&str> = text.split_whitespace().take(2).collect();
                return Err(TdsError::unsupported(format_args!(
                    "the statement '{}'",
                    head.join(" ")
                )));
            }
        }

        self.check_update_permission(&st)?;
        self.check_identity(&st)?;
        let hints = sql::projection_hints(&st);
        self.rewrite(&mut st, params, fetch)?;
        let reads = scan::reads(&st);
        let write = scan::write(&st);
        sql::strip_hints(&mut st);
        let text = sql::render(&st);
        let statement_locks = self.lock_reads(&reads, params)?;
        let res = match write {
            Some((kind, target)) => self.run_dml(&text, params, kind, &target, t, mode, last),
            None => self.run_sql(&text, params, &hints, false, t, mode, last),
        };
        self.shared.locks.restore(self.spid, statement_locks);
        res
    }

    /// IDENTITY columns: remembered at CREATE TABLE; an INSERT that names one
    /// is error 544 unless `SET IDENTITY_INSERT <table> ON`.
    fn check_identity(&self, st: &Statement) -> Result<(), TdsError> {
        let last = |name: &sqlparser::ast::ObjectName| {
            name.0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase())
                .unwrap_or_default()
        };
        let mut identity = self.shared.identity.lock().unwrap();
        match st {
            Statement::CreateTable(ct) => {
                for col in &ct.columns {
                    if col
                        .options
                        .iter()
                        .any(|o| matches!(o.option, sqlparser::ast::ColumnOption::Identity(_)))
                    {
                        identity.insert(last(&ct.name), col.name.value.to_lowercase());
                    }
                }
            }
            Statement::Insert(i) => {
                let sqlparser::ast::TableObject::TableName(name) = &i.table else {
                    return Ok(());
                };
                let table = last(name);
                if let Some(col) = identity.get(&table)
                    && self.identity_insert.as_deref() != Some(table.as_str())
                    && i.columns.iter().any(|c| last(c) == *col)
                {
                    return Err(TdsError::new(
                        544,
                        format!(
                            "Cannot insert explicit value for identity column in table '{table}' when IDENTITY_INSERT is set to OFF."
                        ),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn set_option(&mut self, name: &str, value: &str) -> Result<(), TdsError> {
        let on = value == "ON";
        let syntax = || TdsError::new(102, format!("Incorrect syntax near '{value}'."));
        match name {
            "NOCOUNT" => self.nocount = on,
            "XACT_ABORT" => self.xact_abort = on,
            "LOCK_TIMEOUT" => {
                let ms: i64 = value.parse().map_err(|_| syntax())?;
                self.lock_timeout = (ms >= 0).then(|| Duration::from_millis(ms as u64));
            }
            "TRANSACTION" => {
                let level = value
                    .split_once("LEVEL")
                    .map(|(_, l)| l.trim().to_string())
                    .unwrap_or_default();
                self.isolation = match level.as_str() {
                    "READ UNCOMMITTED" => Isolation::ReadUncommitted,
                    "READ COMMITTED" => Isolation::ReadCommitted,
                    "REPEATABLE READ" => Isolation::RepeatableRead,
                    "SERIALIZABLE" => Isolation::Serializable,
                    "SNAPSHOT" => {
                        return Err(TdsError::new(
                            3952,
                            "Snapshot isolation transaction failed accessing database because snapshot isolation is not allowed in this database.",
                        ));
                    }
                    _ => return Err(syntax()),
                };
            }
            "IDENTITY_INSERT" => {
                let (table, switch) = value.rsplit_once(' ').ok_or_else(syntax)?;
                let table = table
                    .rsplit('.')
                    .next()
                    .unwrap_or("")
                    .trim_matches(['[', ']'])
                    .to_lowercase();
                self.identity_insert = match switch {
                    "ON" => Some(table),
                    "OFF" => None,
                    _ => return Err(syntax()),
                };
            }
            "ROWCOUNT" | "IMPLICIT_TRANSACTIONS" if value != "0" && value != "OFF" => {
                return Err(TdsError::unsupported(format_args!("SET {name} {value}")));
            }
            "ROWCOUNT"
            | "IMPLICIT_TRANSACTIONS"
            | "ANSI_NULLS"
            | "ANSI_PADDING"
            | "ANSI_WARNINGS"
            | "ARITHABORT"
            | "CONCAT_NULL_YIELDS_NULL"
            | "QUOTED_IDENTIFIER"
            | "NUMERIC_ROUNDABORT"
            | "DATEFORMAT"
            | "DATEFIRST"
            | "LANGUAGE"
            | "TEXTSIZE"
            | "DEADLOCK_PRIORITY"
            | "ANSI_NULL_DFLT_ON"
            | "CURSOR_CLOSE_ON_COMMIT" => {}
            other => {
                return Err(TdsError::new(
                    195,
                    format!("'{other}' is not a recognized SET option."),
                ));
            }
        }
        Ok(())
    }

    /// INSERT, UPDATE or DELETE under row locks: U on the rows the WHERE may
    /// touch, X on those it does, the change made in SQLite at once (widths and
    /// integer ranges checked, as SQL Server does) and its undo kept until the
    /// transaction ends.
    #[allow(clippy::too_many_arguments)]
    fn run_dml(
        &mut self,
        text: &str,
        params: &HashMap<String, Value>,
        kind: Write,
        target: &Scan,
        t: &mut Tokens,
        mode: &Mode,
        last: &mut Option<usize>,
    ) -> Result<(), TdsError> {
        let Some(table) = self.known_table(&target.table) else {
            // SQLite names the missing table.
            return self.run_sql(text, params, &[], true, t, mode, last);
        };
        let locks = self.shared.locks.clone();
        let spid = self.spid;
        let wait = self.wait_limit(&target.hints);
        let mut taken: Vec<Previous> = Vec::new();
        let give_back = |taken: Vec<Previous>| {
            for prev in taken.into_iter().rev() {
                locks.restore(spid, prev);
            }
        };
        let result = (|| {
            let mut changed = Vec::new();
            if kind != Write::Insert {
                let candidates = self.candidates(&table, target, params)?;
                taken.push(locks.acquire(spid, &candidates, LockMode::U, wait)?);
                // Under our U locks nobody else changes these rows: which of them the WHERE takes is stable.
                let qualifier = quoted(&target.qualifier);
                let filter = target
                    .selection
                    .as_ref()
                    .map(|w| format!(" WHERE {w}"))
                    .unwrap_or_default();
                let sql = format!(
                    "SELECT {qualifier}.rowid FROM {} AS {qualifier}{filter}",
                    quoted(&table)
                );
                changed = self.rowids(&sql, params)?;
                let key = table.to_lowercase();
                let keys: Vec<Key> = changed.iter().map(|r| (key.clone(), *r)).collect();
                taken.push(locks.acquire(spid, &keys, LockMode::X, wait)?);
            }
            self.write_rows(text, params, kind, &table, changed)
        })();
        match result {
            Ok((n, added)) => {
                if self.trancount > 0 {
                    // X on what the transaction changed, to its end.
                    let key = table.to_lowercase();
                    let keys: Vec<Key> = added.iter().map(|r| (key.clone(), *r)).collect();
                    locks.grant(spid, &keys, LockMode::X);
                    if let Some(x) = taken.pop() {
                        // Keep the X; give back the U on rows the WHERE did not take.
                        let held: std::collections::HashSet<Key> =
                            x.iter().map(|(k, _)| k.clone()).collect();
                        for prev in taken {
                            let rest: Previous = prev
                                .into_iter()
                                .filter(|(k, _)| !held.contains(k))
                                .collect();
                            locks.restore(spid, rest);
                        }
                    }
                } else {
                    give_back(taken);
                }
                self.rowcount = n as i64;
                self.done(t, mode, Some(n), last);
                Ok(())
            }
            Err(e) => {
                give_back(taken);
                Err(e)
            }
        }
    }

    /// Runs the DML in one short SQLite transaction; returns the row count and
    /// the rowids it inserted.
    fn write_rows(
        &mut self,
        text: &str,
        params: &HashMap<String, Value>,
        kind: Write,
        table: &str,
        changed: Vec<i64>,
    ) -> Result<(u64, Vec<i64>), TdsError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.map_err(e))?;
        let res = (|| {
            let before = self.images(table, &changed)?;
            let max_rowid: i64 = self
                .conn
                .query_row(
                    &format!("SELECT coalesce(max(rowid), 0) FROM {}", quoted(table)),
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| self.map_err(e))?;
            let n = {
                let mut stmt = self.conn.prepare(text).map_err(|e| self.map_err(e))?;
                bind(&mut stmt, params)?;
                stmt.raw_execute().map_err(|e| self.map_err(e))?
            };
            let added = if kind == Write::Insert {
                self.rowids(
                    &format!(
                        "SELECT rowid FROM {} WHERE rowid > {max_rowid}",
                        quoted(table)
                    ),
                    &HashMap::new(),
                )?
            } else {
                Vec::new()
            };
            if kind != Write::Delete {
                let written = if kind == Write::Insert {
                    &added
                } else {
                    &changed
                };
                self.check_values(table, written)?;
            }
            Ok((n as u64, before, added))
        })();
        match res {
            Ok((n, before, added)) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(|e| self.map_err(e))?;
                if self.trancount > 0 {
                    for (rowid, columns, values) in before {
                        let table = table.to_string();
                        self.undo.push(match kind {
                            Write::Delete => Undo::Reinsert {
                                table,
                                rowid,
                                columns,
                                values,
                            },
                            _ => Undo::Restore {
                                table,
                                rowid,
                                columns,
                                values,
                            },
                        });
                    }
                    for rowid in &added {
                        self.undo.push(Undo::Remove {
                            table: table.to_string(),
                            rowid: *rowid,
                        });
                    }
                }
                Ok((n, added))
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Whole rows by rowid: (rowid, column names, values).
    #[allow(clippy::type_complexity)]
    fn images(
        &self,
        table: &str,
        rowids: &[i64],
    ) -> Result<Vec<(i64, Vec<String>, Vec<Value>)>, TdsError> {
        let mut out = Vec::new();
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT * FROM {} WHERE rowid = ?1", quoted(table)))
            .map_err(|e| self.map_err(e))?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        for rowid in rowids {
            let values = stmt
                .query_row([rowid], |r| {
                    (0..columns.len())
                        .map(|i| r.get::<_, Value>(i))
                        .collect::<rusqlite::Result<Vec<Value>>>()
                })
                .map_err(|e| self.map_err(e))?;
            out.push((*rowid, columns.clone(), values));
        }
        Ok(out)
    }

    /// SQL Server's checks on written values that SQLite does not make:
    /// (n)varchar/varbinary widths (2628 from SQL Server 2019 on, 8152 before)
    /// and integer types (245 for text, 8115 out of range).
    fn check_values(&self, table: &str, rowids: &[i64]) -> Result<(), TdsError> {
        let mut st = self
            .conn
            .prepare("SELECT name, type FROM pragma_table_info(?1)")
            .map_err(|e| self.map_err(e))?;
        let limits: Vec<(String, Limit)> = st
            .query_map([table], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.map_err(e))?
            .flatten()
            .filter_map(|(n, ty)| limit_of(&ty).map(|l| (n, l)))
            .collect();
        if limits.is_empty() {
            return Ok(());
        }
        let cols: Vec<String> = limits.iter().map(|(n, _)| quoted(n)).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE rowid = ?1",
            cols.join(", "),
            quoted(table)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.map_err(e))?;
        for rowid in rowids {
            let values: Vec<Value> = stmt
                .query_row([rowid], |r| {
                    (0..limits.len())
                        .map(|i| r.get::<_, Value>(i))
                        .collect::<rusqlite::Result<Vec<Value>>>()
                })
                .map_err(|e| self.map_err(e))?;
            for ((column, limit), v) in limits.iter().zip(values) {
                self.check_value(table, column, limit, &v)?;
            }
        }
        Ok(())
    }

    fn check_value(
        &self,
        table: &str,
        column: &str,
        limit: &Limit,
        v: &Value,
    ) -> Result<(), TdsError> {
        let text_len = |s: &str, l: &Limit| match l {
            Limit::Bytes936(_) => encoding_rs::GBK.encode(s).0.len(),
            Limit::Utf16(_) => s.encode_utf16().count(),
            _ => s.len(),
        };
        let (len, max) = match (limit, v) {
            (Limit::Bytes936(n) | Limit::Utf16(n), Value::Text(s)) => (text_len(s, limit), *n),
            (Limit::Binary(n), Value::Blob(b)) => (b.len(), *n),
            (Limit::Int(lo, hi, name), Value::Integer(i)) => {
                if i < lo || i > hi {
                    return Err(TdsError::new(
                        8115,
                        format!(
                            "Arithmetic overflow error converting expression to data type {name}."
                        ),
                    ));
                }
                return Ok(());
            }
            (Limit::Int(_, _, name), Value::Text(s)) => {
                return Err(TdsError::new(
                    245,
                    format!(
                        "Conversion failed when converting the nvarchar value '{s}' to data type {name}."
                    ),
                ));
            }
            _ => return Ok(()),
        };
        if len <= max {
            return Ok(());
        }
        if self.major_version() >= 15 {
            let shown: String = match v {
                Value::Text(s) => s.chars().take(max).collect(),
                _ => String::new(),
            };
            Err(TdsError::new(
                2628,
                format!(
                    "String or binary data would be truncated in table '{}.dbo.{table}', column '{column}'. Truncated value: '{shown}'.",
                    self.shared.opts.database
                ),
            ))
        } else {
            Err(TdsError::new(
                8152,
                "String or binary data would be truncated.",
            ))
        }
    }

    /// The major version in @@VERSION ("… - 15.0.2000.5 …").
    fn major_version(&self) -> u32 {
        self.shared
            .opts
            .version
            .split(" - ")
            .nth(1)
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(15)
    }

    /// Rewrites one parsed T-SQL statement for SQLite in this session's
    /// context and renders it (a condition of IF: no table, so no locks).
    fn to_sqlite(
        &self,
        st: &mut Statement,
        params: &HashMap<String, Value>,
        fetch: &HashMap<u64, String>,
    ) -> Result<String, TdsError> {
        self.rewrite(st, params, fetch)?;
        sql::strip_hints(st);
        Ok(sql::render(st))
    }

    /// Rewrites one parsed T-SQL statement for SQLite in this session's
    /// context (database, @@ROWCOUNT, @@ERROR, permissions, known tables).
    fn rewrite(
        &self,
        st: &mut Statement,
        params: &HashMap<String, Value>,
        fetch: &HashMap<u64, String>,
    ) -> Result<(), TdsError> {
        let tables = self.tables();
        let opts = &self.shared.opts;
        let ctx = Ctx {
            database: &opts.database,
            version: &opts.version,
            user: &opts.user,
            rowcount: self.rowcount,
            error: self.error,
            trancount: self.trancount,
            params,
            fetch_params: fetch,
            perm: &opts.update_permission,
            tables: &tables,
        };
        sql::rewrite(st, &ctx)
    }

    fn eval_condition(
        &mut self,
        cond: &sqlparser::ast::Expr,
        params: &HashMap<String, Value>,
        fetch: &HashMap<u64, String>,
    ) -> Result<bool, TdsError> {
        let (mut stmts, _) =
            sql::parse_batch(&format!("SELECT CASE WHEN {cond} THEN 1 ELSE 0 END"))?;
        let mut st = stmts.remove(0);
        let text = self.to_sqlite(&mut st, params, fetch)?;
        let mut stmt = self.conn.prepare(&text).map_err(|e| self.map_err(e))?;
        bind(&mut stmt, params)?;
        let mut rows = stmt.raw_query();
        let v: i64 = match rows.next().map_err(|e| map_sqlite(e, false))? {
            Some(r) => r.get(0).unwrap_or(0),
            None => 0,
        };
        Ok(v != 0)
    }

    fn check_update_permission(&self, st: &Statement) -> Result<(), TdsError> {
        let Some((table, cols)) = sql::update_targets(st) else {
            return Ok(());
        };
        let db = &self.shared.opts.database;
        match &self.shared.opts.update_permission {
            UpdatePermission::All => Ok(()),
            UpdatePermission::None => Err(TdsError::new(
                229,
                format!(
                    "The UPDATE permission was denied on the object '{table}', database '{db}', schema 'dbo'."
                ),
            )),
            UpdatePermission::Columns(allowed) => {
                for c in cols {
                    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&c)) {
                        return Err(TdsError::new(
                            230,
                            format!(
                                "The UPDATE permission was denied on the column '{c}' of the object '{table}', database '{db}', schema 'dbo'."
                            ),
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    fn map_err(&self, e: rusqlite::Error) -> TdsError {
        map_sqlite(e, self.trancount > 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_sql(
        &mut self,
        text: &str,
        params: &HashMap<String, Value>,
        hints: &[Hint],
        dml: bool,
        t: &mut Tokens,
        mode: &Mode,
        last: &mut Option<usize>,
    ) -> Result<(), TdsError> {
        let in_tran = self.trancount > 0;
        if std::env::var_os("TDS_ENDPOINT_DEBUG").is_some() {
            eprintln!("tds endpoint → sqlite: {text}");
        }
        let mut stmt = self
            .conn
            .prepare(text)
            .map_err(|e| map_sqlite(e, in_tran))?;
        bind(&mut stmt, params)?;
        let ncols = stmt.column_count();
        if ncols == 0 {
            let n = stmt.raw_execute().map_err(|e| map_sqlite(e, in_tran))?;
            drop(stmt);
            if dml {
                self.rowcount = n as i64;
                self.done(t, mode, Some(n as u64), last);
            } else {
                self.rowcount = 0;
                self.done(t, mode, None, last);
            }
            return Ok(());
        }
        let meta: Vec<(String, Option<String>)> = stmt
            .columns()
            .iter()
            .map(|c| {
                (
                    c.name().to_string(),
                    c.decl_type().map(|d| d.to_lowercase()),
                )
            })
            .collect();
        let mut rows: Vec<Vec<Value>> = Vec::new();
        {
            let mut q = stmt.raw_query();
            while let Some(r) = q.next().map_err(|e| map_sqlite(e, in_tran))? {
                let mut row = Vec::with_capacity(ncols);
                for i in 0..ncols {
                    row.push(r.get::<_, Value>(i).map_err(|e| map_sqlite(e, in_tran))?);
                }
                rows.push(row);
            }
        }
        drop(stmt);
        let cols: Vec<Column> = meta
            .iter()
            .enumerate()
            .map(|(i, (name, decl))| {
                let hint = hints.get(i);
                let ty = hint
                    .and_then(|h| h.ty)
                    .or_else(|| decl.as_deref().and_then(type_from_decl))
                    .unwrap_or_else(|| type_from_values(rows.iter().map(|r| &r[i])));
                let ty = finalize_type(ty, rows.iter().map(|r| &r[i]));
                let name = hint
                    .and_then(|h| h.name.clone())
                    .unwrap_or_else(|| name.clone());
                Column { name, ty }
            })
            .collect();
        t.colmetadata(&cols);
        for r in &rows {
            t.row(&cols, r);
        }
        self.rowcount = rows.len() as i64;
        self.done(t, mode, Some(rows.len() as u64), last);
        Ok(())
    }
}

fn bind(
    stmt: &mut rusqlite::Statement<'_>,
    params: &HashMap<String, Value>,
) -> Result<(), TdsError> {
    for i in 1..=stmt.parameter_count() {
        let name = stmt.parameter_name(i).unwrap_or("?").to_string();
        let v = params.get(&name.to_lowercase()).ok_or_else(|| {
            TdsError::new(137, format!("Must declare the scalar variable \"{name}\"."))
        })?;
        stmt.raw_bind_parameter(i, v)
            .map_err(|e| map_sqlite(e, false))?;
    }
    Ok(())
}

/// The SQL Server type a SQLite declared column type stands for.
pub fn type_from_decl(decl: &str) -> Option<ColType> {
    let d = decl.trim().to_lowercase();
    let base = d.split('(').next().unwrap_or("").trim().to_string();
    Some(match base.as_str() {
        "nvarchar" | "nchar" | "ntext" | "text" | "sysname" | "xml" => {
            ColType::NVarChar { plp: false }
        }
        "varchar" | "char" => ColType::VarChar { plp: false },
        "int" | "integer" => ColType::Int(4),
        "bigint" => ColType::Int(8),
        "smallint" => ColType::Int(2),
        "tinyint" => ColType::Int(1),
        "bit" | "boolean" => ColType::Bit,
        "datetime2" => ColType::DateTime2,
        "datetime" | "smalldatetime" | "timestamp" => ColType::DateTime,
        "date" => ColType::Date,
        "float" | "real" | "double" | "decimal" | "numeric" | "money" => ColType::Float,
        "varbinary" | "binary" | "blob" | "image" => ColType::VarBinary { plp: false },
        "uniqueidentifier" => ColType::Guid,
        _ => return None,
    })
}

fn type_from_values<'a>(vals: impl Iterator<Item = &'a Value>) -> ColType {
    for v in vals {
        match v {
            Value::Null => continue,
            Value::Integer(_) => return ColType::Int(4),
            Value::Real(_) => return ColType::Float,
            Value::Text(_) => return ColType::NVarChar { plp: false },
            Value::Blob(_) => return ColType::VarBinary { plp: false },
        }
    }
    ColType::Int(4)
}

fn finalize_type<'a>(ty: ColType, vals: impl Iterator<Item = &'a Value> + Clone) -> ColType {
    match ty {
        ColType::Int(n) if n < 8 => {
            let (lo, hi) = match n {
                1 => (0, 255),
                2 => (i16::MIN as i64, i16::MAX as i64),
                _ => (i32::MIN as i64, i32::MAX as i64),
            };
            if vals
                .clone()
                .any(|v| matches!(v, Value::Integer(i) if *i < lo || *i > hi))
            {
                ColType::Int(8)
            } else {
                ty
            }
        }
        ColType::NVarChar { .. } | ColType::VarChar { .. } | ColType::VarBinary { .. } => {
            let plp = vals.clone().any(|v| wire::wire_len(ty, v) > 8000);
            match ty {
                ColType::NVarChar { .. } => ColType::NVarChar { plp },
                ColType::VarChar { .. } => ColType::VarChar { plp },
                _ => ColType::VarBinary { plp },
            }
        }
        other => other,
    }
}

fn map_sqlite(e: rusqlite::Error, _in_tran: bool) -> TdsError {
    let msg = e.to_string();
    if let rusqlite::Error::SqliteFailure(f, m) = &e {
        let m = m.clone().unwrap_or_default();
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return TdsError::new(1222, "Lock request time out period exceeded.");
            }
            ErrorCode::ConstraintViolation => {
                let target = m.rsplit(": ").next().unwrap_or("").to_string();
                let table = target
                    .split(',')
                    .next()
                    .unwrap_or("")
                    .split('.')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                if f.extended_code == 1555 || f.extended_code == 2067 {
                    return TdsError {
                        number: 2627,
                        class: 14,
                        msg: format!(
                            "Violation of PRIMARY KEY constraint 'PK_{table}'. Cannot insert duplicate key in object 'dbo.{table}'. ({m})"
                        ),
                    };
                }
                // CHECK guid_check_<column> (tds/sql.rs): not a GUID's text.
                if f.extended_code == 275 && m.contains("guid_check_") {
                    return TdsError::new(
                        8169,
                        "Conversion failed when converting from a character string to uniqueidentifier.",
                    );
                }
                if f.extended_code == 1299 {
                    let col = target.split('.').nth(1).unwrap_or("").to_string();
                    return TdsError::new(
                        515,
                        format!(
                            "Cannot insert the value NULL into column '{col}', table '{table}'; column does not allow nulls. INSERT fails."
                        ),
                    );
                }
                return TdsError::new(
                    547,
                    format!("The statement conflicted with a constraint: {m}"),
                );
            }
            _ => {}
        }
        if let Some(t) = m.strip_prefix("no such table: ") {
            return TdsError::new(208, format!("Invalid object name '{t}'."));
        }
        if let Some(c) = m.strip_prefix("no such column: ") {
            return TdsError::new(207, format!("Invalid column name '{c}'."));
        }
        if m.contains("syntax error") {
            return TdsError::new(102, format!("Incorrect syntax ({m})."));
        }
        if m.contains("already exists") {
            return TdsError::new(
                2714,
                format!("There is already an object with that name in the database ({m})."),
            );
        }
        return TdsError::new(50000, format!("SQLite: {m}"));
    }
    TdsError::new(50000, format!("SQLite: {msg}"))
}
