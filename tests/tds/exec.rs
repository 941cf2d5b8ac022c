//! One TDS session: a rusqlite connection, transaction state and the
//! statement runner that turns results into tokens.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode};
use sqlparser::ast::Statement;

use super::sql::{self, Ctx, Hint, TdsError};
use super::wire::{self, ColType, Column, Tokens};
use super::{Shared, UpdatePermission};

const VIEWS: &str = r#"
CREATE TEMP VIEW IF NOT EXISTS information_schema_columns AS
SELECT '{db}' AS TABLE_CATALOG, 'dbo' COLLATE NOCASE AS TABLE_SCHEMA, m.name COLLATE NOCASE AS TABLE_NAME,
       p.name COLLATE NOCASE AS COLUMN_NAME,
       p.cid + 1 AS ORDINAL_POSITION, p.dflt_value AS COLUMN_DEFAULT,
       CASE WHEN p."notnull" = 1 OR p.pk > 0 THEN 'NO' ELSE 'YES' END AS IS_NULLABLE,
       lower(trim(CASE WHEN instr(p.type, '(') > 0 THEN substr(p.type, 1, instr(p.type, '(') - 1) ELSE p.type END)) AS DATA_TYPE,
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
    rowcount: i64,
    nocount: bool,
    trancount: u32,
    tran_desc: u64,
}

enum Mode {
    Batch,
    Proc,
}

impl Session {
    pub fn open(shared: Arc<Shared>) -> rusqlite::Result<Session> {
        let conn = Connection::open(&shared.db_path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(&VIEWS.replace("{db}", &shared.opts.database.replace('\'', "''")))?;
        Ok(Session {
            conn,
            shared,
            rowcount: 0,
            nocount: false,
            trancount: 0,
            tran_desc: 0,
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
            self.exec_stmt(st, params, &fetch, t, &mode, last)?;
        }
        Ok(())
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
                    self.conn
                        .execute_batch("BEGIN")
                        .map_err(|e| self.map_err(e))?;
                    self.tran_desc = self.shared.next_tran.fetch_add(1, Ordering::SeqCst);
                    t.envchange_bytes(8, &self.tran_desc.to_le_bytes(), &[]);
                }
                self.trancount += 1;
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
                    self.conn
                        .execute_batch("COMMIT")
                        .map_err(|e| self.map_err(e))?;
                    t.envchange_bytes(9, &[], &self.tran_desc.to_le_bytes());
                }
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
                self.trancount = 0;
                if !self.conn.is_autocommit() {
                    self.conn
                        .execute_batch("ROLLBACK")
                        .map_err(|e| self.map_err(e))?;
                }
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
                match name.as_str() {
                    "NOCOUNT" => self.nocount = value == "ON",
                    "LOCK_TIMEOUT" => {
                        let ms: i64 = value.parse().map_err(|_| {
                            TdsError::new(102, format!("Incorrect syntax near '{value}'."))
                        })?;
                        let d = if ms < 0 {
                            Duration::from_secs(60)
                        } else {
                            Duration::from_millis(ms as u64)
                        };
                        self.conn.busy_timeout(d).map_err(|e| self.map_err(e))?;
                    }
                    _ => {}
                }
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
        let hints = sql::projection_hints(&st);
        let text = self.to_sqlite(&mut st, params, fetch)?;
        let dml = matches!(
            st,
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
        );
        self.run_sql(&text, params, &hints, dml, t, mode, last)
    }

    /// Rewrites one parsed T-SQL statement for SQLite in this session's
    /// context (database, @@ROWCOUNT, permissions, known tables) and renders it.
    fn to_sqlite(
        &self,
        st: &mut Statement,
        params: &HashMap<String, Value>,
        fetch: &HashMap<u64, String>,
    ) -> Result<String, TdsError> {
        let tables = self.tables();
        let opts = &self.shared.opts;
        let ctx = Ctx {
            database: &opts.database,
            version: &opts.version,
            user: &opts.user,
            rowcount: self.rowcount,
            trancount: self.trancount,
            params,
            fetch_params: fetch,
            perm: &opts.update_permission,
            tables: &tables,
        };
        sql::rewrite(st, &ctx)?;
        Ok(sql::render(st))
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
