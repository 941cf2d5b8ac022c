//! TDS framing, tokens and value encodings (server side).

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use rusqlite::types::Value;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const PKT_SQL_BATCH: u8 = 0x01;
pub const PKT_RPC: u8 = 0x03;
pub const PKT_REPLY: u8 = 0x04;
pub const PKT_ATTENTION: u8 = 0x06;
pub const PKT_LOGIN7: u8 = 0x10;
pub const PKT_PRELOGIN: u8 = 0x12;

pub const PACKET_SIZE: usize = 4096;

/// Chinese_PRC_CI_AS: LCID 0x0804, CI/KI/WI flags, sort id 0.
pub const COLLATION: [u8; 5] = [0x04, 0x08, 0xD0, 0x00, 0x00];

pub const DONE_FINAL: u16 = 0x00;
pub const DONE_MORE: u16 = 0x01;
pub const DONE_ERROR: u16 = 0x02;
pub const DONE_COUNT: u16 = 0x10;
pub const DONE_ATTN: u16 = 0x20;

pub const TOKEN_DONE: u8 = 0xFD;
pub const TOKEN_DONEPROC: u8 = 0xFE;
pub const TOKEN_DONEINPROC: u8 = 0xFF;

/// Reads one TDS message (all packets up to END_OF_MESSAGE). `None` on a clean EOF.
pub async fn read_message<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut payload = Vec::new();
    let mut first = true;
    loop {
        let mut h = [0u8; 8];
        match s.read_exact(&mut h).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && first => return Ok(None),
            Err(e) => return Err(e),
        }
        first = false;
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        if len < 8 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TDS packet shorter than its header",
            ));
        }
        let mut body = vec![0u8; len - 8];
        s.read_exact(&mut body).await?;
        payload.extend_from_slice(&body);
        if h[1] & 0x01 != 0 {
            return Ok(Some((h[0], payload)));
        }
    }
}

/// Writes one TDS message split into packets of at most `PACKET_SIZE` bytes.
pub async fn write_message<S: AsyncWrite + Unpin>(
    s: &mut S,
    ty: u8,
    payload: &[u8],
) -> io::Result<()> {
    let max = PACKET_SIZE - 8;
    let mut out = Vec::with_capacity(payload.len() + 8 * (payload.len() / max + 1));
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![&[][..]]
    } else {
        payload.chunks(max).collect()
    };
    let n = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let len = (chunk.len() + 8) as u16;
        out.push(ty);
        out.push(if i + 1 == n { 0x01 } else { 0x00 });
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0x00, 0x34]);
        out.push(((i + 1) % 256) as u8);
        out.push(0);
        out.extend_from_slice(chunk);
    }
    s.write_all(&out).await?;
    s.flush().await
}

pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

pub fn from_utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// VARCHAR payload bytes for the Chinese_PRC collation: CP936 (GBK).
pub fn gbk(s: &str) -> Vec<u8> {
    let (bytes, _, _) = encoding_rs::GBK.encode(s);
    bytes.into_owned()
}

/// Column types the endpoint sends in COLMETADATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int(u8),
    Bit,
    Float,
    DateTime,
    DateTime2,
    Date,
    NVarChar {
        plp: bool,
    },
    VarChar {
        plp: bool,
    },
    VarBinary {
        plp: bool,
    },
    /// uniqueidentifier: GUIDTYPE, 16 bytes (the first three groups little-endian).
    Guid,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: ColType,
}

/// A growing token stream for one response message.
#[derive(Default)]
pub struct Tokens {
    pub buf: Vec<u8>,
}

impl Tokens {
    fn b_varchar(&mut self, s: &str) {
        let units = s.encode_utf16().count().min(255);
        self.buf.push(units as u8);
        for u in s.encode_utf16().take(units) {
            self.buf.extend_from_slice(&u.to_le_bytes());
        }
    }

    fn us_varchar(&mut self, s: &str) {
        let units: Vec<u16> = s.encode_utf16().take(65535).collect();
        self.buf
            .extend_from_slice(&(units.len() as u16).to_le_bytes());
        for u in units {
            self.buf.extend_from_slice(&u.to_le_bytes());
        }
    }

    fn with_len16(&mut self, token: u8, body: impl FnOnce(&mut Tokens)) {
        self.buf.push(token);
        let pos = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        body(self);
        let len = (self.buf.len() - pos - 2) as u16;
        self.buf[pos..pos + 2].copy_from_slice(&len.to_le_bytes());
    }

    pub fn loginack(&mut self, tds_version: u32) {
        self.with_len16(0xAD, |t| {
            t.buf.push(1);
            t.buf.extend_from_slice(&tds_version.to_be_bytes());
            t.b_varchar("Microsoft SQL Server");
            t.buf.extend_from_slice(&[15, 0, 0x07, 0xD0]);
        });
    }

    pub fn envchange_str(&mut self, ty: u8, new: &str, old: &str) {
        self.with_len16(0xE3, |t| {
            t.buf.push(ty);
            t.b_varchar(new);
            t.b_varchar(old);
        });
    }

    pub fn envchange_bytes(&mut self, ty: u8, new: &[u8], old: &[u8]) {
        self.with_len16(0xE3, |t| {
            t.buf.push(ty);
            t.buf.push(new.len() as u8);
            t.buf.extend_from_slice(new);
            t.buf.push(old.len() as u8);
            t.buf.extend_from_slice(old);
        });
    }

    fn message(&mut self, token: u8, number: u32, state: u8, class: u8, msg: &str, server: &str) {
        self.with_len16(token, |t| {
            t.buf.extend_from_slice(&number.to_le_bytes());
            t.buf.push(state);
            t.buf.push(class);
            t.us_varchar(msg);
            t.b_varchar(server);
            t.b_varchar("");
            t.buf.extend_from_slice(&1u32.to_le_bytes());
        });
    }

    pub fn error(&mut self, number: u32, state: u8, class: u8, msg: &str) {
        self.message(0xAA, number, state, class, msg, "LOCKSMITH-TDS");
    }

    pub fn info(&mut self, number: u32, msg: &str) {
        self.message(0xAB, number, 1, 0, msg, "LOCKSMITH-TDS");
    }

    pub fn done(&mut self, token: u8, status: u16, curcmd: u16, rows: u64) {
        self.buf.push(token);
        self.buf.extend_from_slice(&status.to_le_bytes());
        self.buf.extend_from_slice(&curcmd.to_le_bytes());
        self.buf.extend_from_slice(&rows.to_le_bytes());
    }

    pub fn return_status(&mut self, v: i32) {
        self.buf.push(0x79);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn colmetadata(&mut self, cols: &[Column]) {
        self.buf.push(0x81);
        self.buf
            .extend_from_slice(&(cols.len() as u16).to_le_bytes());
        for c in cols {
            self.buf.extend_from_slice(&0u32.to_le_bytes());
            self.buf.extend_from_slice(&0x0001u16.to_le_bytes());
            match c.ty {
                ColType::Int(n) => self.buf.extend_from_slice(&[0x26, n]),
                ColType::Bit => self.buf.extend_from_slice(&[0x68, 1]),
                ColType::Float => self.buf.extend_from_slice(&[0x6D, 8]),
                ColType::DateTime => self.buf.extend_from_slice(&[0x6F, 8]),
                ColType::DateTime2 => self.buf.extend_from_slice(&[0x2A, 7]),
                ColType::Date => self.buf.push(0x28),
                ColType::Guid => self.buf.extend_from_slice(&[0x24, 16]),
                ColType::NVarChar { plp } => {
                    self.buf.push(0xE7);
                    self.buf
                        .extend_from_slice(&(if plp { 0xFFFFu16 } else { 8000 }).to_le_bytes());
                    self.buf.extend_from_slice(&COLLATION);
                }
                ColType::VarChar { plp } => {
                    self.buf.push(0xA7);
                    self.buf
                        .extend_from_slice(&(if plp { 0xFFFFu16 } else { 8000 }).to_le_bytes());
                    self.buf.extend_from_slice(&COLLATION);
                }
                ColType::VarBinary { plp } => {
                    self.buf.push(0xA5);
                    self.buf
                        .extend_from_slice(&(if plp { 0xFFFFu16 } else { 8000 }).to_le_bytes());
                }
            }
            self.b_varchar(&c.name);
        }
    }

    pub fn row(&mut self, cols: &[Column], values: &[Value]) {
        self.buf.push(0xD1);
        for (c, v) in cols.iter().zip(values) {
            encode_value(&mut self.buf, c.ty, v);
        }
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(f) => Some(f.to_string()),
        Value::Text(s) => Some(s.clone()),
        Value::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
    }
}

fn value_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::Real(f) => Some(*f as i64),
        Value::Text(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

fn value_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Real(f) => Some(*f),
        Value::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses the text forms a datetime column may hold.
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y%m%d %H:%M:%S%.f",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, f) {
            return Some(dt);
        }
    }
    for f in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return d.and_hms_opt(0, 0, 0);
        }
    }
    None
}

/// The canonical stored form: `YYYY-MM-DD HH:MM:SS`, `.fff` only when milliseconds ≠ 0.
pub fn format_datetime(dt: NaiveDateTime) -> String {
    let ms = (dt.nanosecond() as u64 + 500_000) / 1_000_000;
    let base = dt.with_nanosecond(0).unwrap_or(dt);
    let (base, ms) = if ms >= 1000 {
        (base + chrono::Duration::seconds(1), 0)
    } else {
        (base, ms)
    };
    if ms == 0 {
        base.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        format!("{}.{:03}", base.format("%Y-%m-%d %H:%M:%S"), ms)
    }
}

fn base_1900() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1900, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
}

pub fn datetime_from_ticks(days: i32, ticks: u32) -> NaiveDateTime {
    let ns = (ticks as u64 * 1_000_000_000 + 150) / 300;
    base_1900() + chrono::Duration::days(days as i64) + chrono::Duration::nanoseconds(ns as i64)
}

fn datetime_to_ticks(dt: NaiveDateTime) -> (i32, u32) {
    let days = (dt.date() - base_1900().date()).num_days() as i32;
    let secs = dt.time().num_seconds_from_midnight() as u64;
    let ticks = secs * 300 + (dt.nanosecond() as u64 * 300 + 500_000_000) / 1_000_000_000;
    (days, ticks as u32)
}

pub fn days_from_ce1(d: NaiveDate) -> u32 {
    (d.num_days_from_ce() - 1) as u32
}

pub fn date_from_ce1(days: u32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days as i32 + 1).unwrap_or_default()
}

pub fn time_from_increments(inc: u64, scale: u8) -> NaiveTime {
    let ns = inc * 10u64.pow(9 - scale.min(9) as u32);
    NaiveTime::from_num_seconds_from_midnight_opt(
        (ns / 1_000_000_000) as u32,
        (ns % 1_000_000_000) as u32,
    )
    .unwrap_or_default()
}

fn plp(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => buf.extend_from_slice(&u64::MAX.to_le_bytes()),
        Some(b) => {
            buf.extend_from_slice(&(b.len() as u64).to_le_bytes());
            if !b.is_empty() {
                buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
                buf.extend_from_slice(b);
            }
            buf.extend_from_slice(&0u32.to_le_bytes());
        }
    }
}

fn varlen(buf: &mut Vec<u8>, is_plp: bool, bytes: Option<&[u8]>) {
    if is_plp {
        plp(buf, bytes);
    } else {
        match bytes {
            None => buf.extend_from_slice(&0xFFFFu16.to_le_bytes()),
            Some(b) => {
                buf.extend_from_slice(&(b.len() as u16).to_le_bytes());
                buf.extend_from_slice(b);
            }
        }
    }
}

/// The byte length a value needs in a (non-PLP) string/binary column of this type.
pub fn wire_len(ty: ColType, v: &Value) -> usize {
    match (ty, v) {
        (ColType::NVarChar { .. }, v) => value_text(v)
            .map(|s| s.encode_utf16().count() * 2)
            .unwrap_or(0),
        (ColType::VarChar { .. }, v) => value_text(v).map(|s| gbk(&s).len()).unwrap_or(0),
        (ColType::VarBinary { .. }, Value::Blob(b)) => b.len(),
        (ColType::VarBinary { .. }, v) => value_text(v).map(|s| s.len()).unwrap_or(0),
        _ => 0,
    }
}

pub fn encode_value(buf: &mut Vec<u8>, ty: ColType, v: &Value) {
    match ty {
        ColType::Int(n) => match value_i64(v) {
            None => buf.push(0),
            Some(i) => {
                buf.push(n);
                buf.extend_from_slice(&i.to_le_bytes()[..n as usize]);
            }
        },
        ColType::Bit => match value_i64(v) {
            None => buf.push(0),
            Some(i) => buf.extend_from_slice(&[1, (i != 0) as u8]),
        },
        ColType::Float => match value_f64(v) {
            None => buf.push(0),
            Some(f) => {
                buf.push(8);
                buf.extend_from_slice(&f.to_le_bytes());
            }
        },
        ColType::DateTime | ColType::DateTime2 | ColType::Date => {
            let dt = value_text(v).and_then(|s| parse_datetime(&s));
            match (dt, ty) {
                (None, _) => buf.push(0),
                (Some(dt), ColType::DateTime) => {
                    let (days, ticks) = datetime_to_ticks(dt);
                    buf.push(8);
                    buf.extend_from_slice(&days.to_le_bytes());
                    buf.extend_from_slice(&ticks.to_le_bytes());
                }
                (Some(dt), ColType::DateTime2) => {
                    let inc = dt.time().num_seconds_from_midnight() as u64 * 10_000_000
                        + dt.nanosecond() as u64 / 100;
                    buf.push(8);
                    buf.extend_from_slice(&inc.to_le_bytes()[..5]);
                    buf.extend_from_slice(&days_from_ce1(dt.date()).to_le_bytes()[..3]);
                }
                (Some(dt), _) => {
                    buf.push(3);
                    buf.extend_from_slice(&days_from_ce1(dt.date()).to_le_bytes()[..3]);
                }
            }
        }
        ColType::NVarChar { plp } => {
            let b = value_text(v).map(|s| utf16(&s));
            varlen(buf, plp, b.as_deref());
        }
        ColType::VarChar { plp } => {
            let b = value_text(v).map(|s| gbk(&s));
            varlen(buf, plp, b.as_deref());
        }
        ColType::VarBinary { plp } => {
            let b = match v {
                Value::Null => None,
                Value::Blob(b) => Some(b.clone()),
                other => value_text(other).map(String::into_bytes),
            };
            varlen(buf, plp, b.as_deref());
        }
        ColType::Guid => match value_text(v).and_then(|s| guid_bytes(&s)) {
            None => buf.push(0),
            Some(b) => {
                buf.push(16);
                buf.extend_from_slice(&b);
            }
        },
    }
}

/// A GUID's text as SQL Server sends it: Data1..Data3 little-endian, Data4 as is.
pub fn guid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || text.len() != 36 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    Some(b)
}

/// A cursor over an incoming message.
pub struct Reader<'a> {
    pub b: &'a [u8],
    pub pos: usize,
}

fn eof() -> String {
    "unexpected end of the TDS message".to_string()
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.pos + n > self.b.len() {
            return Err(eof());
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().unwrap()))
    }
    pub fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap()))
    }
    pub fn remaining(&self) -> &'a [u8] {
        &self.b[self.pos.min(self.b.len())..]
    }
    /// Skips ALL_HEADERS and returns the transaction descriptor if present.
    pub fn all_headers(&mut self) -> Result<u64, String> {
        let total = self.u32()? as usize;
        let end = self.pos - 4 + total;
        let mut desc = 0;
        while self.pos < end {
            let len = self.u32()? as usize;
            let start = self.pos - 4;
            let ty = self.u16()?;
            if ty == 2 {
                desc = self.u64()?;
            }
            self.pos = start + len;
        }
        self.pos = end;
        Ok(desc)
    }
    fn plp_bytes(&mut self) -> Result<Option<Vec<u8>>, String> {
        let total = self.u64()?;
        if total == u64::MAX {
            return Ok(None);
        }
        let mut out = Vec::new();
        loop {
            let n = self.u32()? as usize;
            if n == 0 {
                break;
            }
            out.extend_from_slice(self.take(n)?);
        }
        Ok(Some(out))
    }
    fn short_bytes(&mut self) -> Result<Option<Vec<u8>>, String> {
        let n = self.u16()?;
        if n == 0xFFFF {
            return Ok(None);
        }
        Ok(Some(self.take(n as usize)?.to_vec()))
    }

    /// Reads one RPC parameter: (name, value).
    pub fn rpc_param(&mut self) -> Result<(String, Value), String> {
        let n = self.u8()? as usize;
        let name = from_utf16(self.take(n * 2)?);
        let _status = self.u8()?;
        let ty = self.u8()?;
        let v = match ty {
            0x1F => Value::Null,
            0x26 | 0x68 => {
                let _max = self.u8()?;
                let len = self.u8()?;
                match len {
                    0 => Value::Null,
                    1 => Value::Integer(self.u8()? as i64),
                    2 => Value::Integer(self.u16()? as i16 as i64),
                    4 => Value::Integer(self.u32()? as i32 as i64),
                    8 => Value::Integer(self.u64()? as i64),
                    _ => return Err(format!("invalid integer length {len}")),
                }
            }
            0x6D => {
                let _max = self.u8()?;
                match self.u8()? {
                    0 => Value::Null,
                    4 => Value::Real(f32::from_bits(self.u32()?) as f64),
                    8 => Value::Real(f64::from_bits(self.u64()?)),
                    l => return Err(format!("invalid float length {l}")),
                }
            }
            0x6F => {
                let _max = self.u8()?;
                match self.u8()? {
                    0 => Value::Null,
                    8 => {
                        let days = self.u32()? as i32;
                        let ticks = self.u32()?;
                        Value::Text(format_datetime(datetime_from_ticks(days, ticks)))
                    }
                    4 => {
                        let days = self.u16()?;
                        let mins = self.u16()?;
                        let dt = base_1900()
                            + chrono::Duration::days(days as i64)
                            + chrono::Duration::minutes(mins as i64);
                        Value::Text(format_datetime(dt))
                    }
                    l => return Err(format!("invalid datetime length {l}")),
                }
            }
            0x2A | 0x29 => {
                let scale = self.u8()?;
                let len = self.u8()? as usize;
                if len == 0 {
                    Value::Null
                } else {
                    let tlen = if ty == 0x2A { len - 3 } else { len };
                    let mut tb = [0u8; 8];
                    tb[..tlen].copy_from_slice(self.take(tlen)?);
                    let time = time_from_increments(u64::from_le_bytes(tb), scale);
                    if ty == 0x2A {
                        let mut db = [0u8; 4];
                        db[..3].copy_from_slice(self.take(3)?);
                        let date = date_from_ce1(u32::from_le_bytes(db));
                        Value::Text(format_datetime(NaiveDateTime::new(date, time)))
                    } else {
                        Value::Text(time.format("%H:%M:%S%.f").to_string())
                    }
                }
            }
            0x28 => match self.u8()? {
                0 => Value::Null,
                _ => {
                    let mut db = [0u8; 4];
                    db[..3].copy_from_slice(self.take(3)?);
                    Value::Text(
                        date_from_ce1(u32::from_le_bytes(db))
                            .format("%Y-%m-%d")
                            .to_string(),
                    )
                }
            },
            0xE7 | 0xEF | 0xA7 | 0xAF => {
                let max = self.u16()?;
                let coll = self.take(5)?.to_vec();
                let bytes = if max == 0xFFFF {
                    self.plp_bytes()?
                } else {
                    self.short_bytes()?
                };
                match bytes {
                    None => Value::Null,
                    Some(b) if ty == 0xE7 || ty == 0xEF => Value::Text(from_utf16(&b)),
                    Some(b) => {
                        let lcid = u16::from_le_bytes([coll[0], coll[1]]);
                        let enc = if lcid == 0x0804 {
                            encoding_rs::GBK
                        } else {
                            encoding_rs::WINDOWS_1252
                        };
                        Value::Text(enc.decode(&b).0.into_owned())
                    }
                }
            }
            0xA5 | 0xAD => {
                let max = self.u16()?;
                let bytes = if max == 0xFFFF {
                    self.plp_bytes()?
                } else {
                    self.short_bytes()?
                };
                bytes.map(Value::Blob).unwrap_or(Value::Null)
            }
            0x24 => {
                let _max = self.u8()?;
                match self.u8()? {
                    0 => Value::Null,
                    _ => {
                        let b = self.take(16)?;
                        Value::Text(format!(
                            "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
                            b[3],
                            b[2],
                            b[1],
                            b[0],
                            b[5],
                            b[4],
                            b[7],
                            b[6],
                            b[8],
                            b[9],
                            b[10],
                            b[11],
                            b[12],
                            b[13],
                            b[14],
                            b[15]
                        ))
                    }
                }
            }
            0x6A | 0x6C => {
                let _max = self.u8()?;
                let _precision = self.u8()?;
                let scale = self.u8()?;
                let len = self.u8()? as usize;
                if len == 0 {
                    Value::Null
                } else {
                    let sign = self.u8()?;
                    let mut mb = [0u8; 16];
                    mb[..len - 1].copy_from_slice(self.take(len - 1)?);
                    let m = u128::from_le_bytes(mb) as f64 / 10f64.powi(scale as i32);
                    Value::Real(if sign == 0 { -m } else { m })
                }
            }
            other => {
                return Err(format!(
                    "parameter {name}: unsupported TDS type 0x{other:02X}"
                ));
            }
        };
        Ok((name, v))
    }
}
