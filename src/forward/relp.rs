//! A RELP client (the Reliable Event Logging Protocol of rsyslog's
//! `imrelp`; librelp's doc/relp.md): `open` with offers, `syslog` commands
//! acknowledged one by one with `rsp 200`, `close`.
//!
//! ```text
//! frame = TXNR SP COMMAND SP DATALEN [SP DATA] LF     (TXNR 1..999999999, 0 = server hint)
//! rsp data = CODE [SP text] [LF offers]               (200 = OK)
//! ```
//! Commands are pipelined up to a window; responses come in command order.

use std::io::{BufReader, Read, Write};

use super::transport::Stream;

/// Commands in flight at once (librelp's default window is 128).
const WINDOW: usize = 64;
/// The largest response this client reads (the open offers are the longest).
const MAX_DATA: usize = 128 * 1024;
const MAX_TXNR: u32 = 999_999_999;

pub(crate) struct Relp {
    io: BufReader<Stream>,
    txnr: u32,
}

struct Frame {
    txnr: u32,
    command: String,
    data: Vec<u8>,
}

impl Relp {
    /// Opens a session: `relp_version=0` (what librelp speaks) and the
    /// `syslog` command, which the server must accept.
    pub(crate) fn open(stream: Stream) -> Result<Relp, String> {
        let mut relp = Relp {
            io: BufReader::new(stream),
            txnr: 0,
        };
        let offers = format!(
            "relp_version=0\nrelp_software=locksmith,{},https://github.com/locksmith\ncommands=syslog",
            env!("CARGO_PKG_VERSION")
        );
        let txnr = relp.send("open", offers.as_bytes())?;
        relp.io
            .get_mut()
            .flush()
            .map_err(|e| format!("RELP open: {e}"))?;
        let data = relp.response(txnr)?;
        let text = String::from_utf8_lossy(&data);
        let accepted = text
            .lines()
            .filter_map(|l| l.strip_prefix("commands="))
            .any(|c| c.split(',').any(|c| c.trim() == "syslog"));
        if !accepted {
            return Err(format!(
                "the RELP server did not accept the syslog command (it answered {:?})",
                text.lines().next().unwrap_or("")
            ));
        }
        Ok(relp)
    }

    fn next_txnr(&mut self) -> u32 {
        self.txnr = if self.txnr >= MAX_TXNR {
            1
        } else {
            self.txnr + 1
        };
        self.txnr
    }

    fn send(&mut self, command: &str, data: &[u8]) -> Result<u32, String> {
        let txnr = self.next_txnr();
        let mut frame = format!("{txnr} {command} {}", data.len()).into_bytes();
        if !data.is_empty() {
            frame.push(b' ');
            frame.extend_from_slice(data);
        }
        frame.push(b'\n');
        self.io
            .get_mut()
            .write_all(&frame)
            .map_err(|e| format!("RELP {command}: {e}"))?;
        Ok(txnr)
    }

    /// Sends `messages` (entry id, RFC 5424 text) in order; after each
    /// acknowledgement `acked` is that entry's id. Stops at the first error.
    pub(crate) fn syslog(
        &mut self,
        messages: &[(i64, String)],
        acked: &mut i64,
    ) -> Result<(), String> {
        for window in messages.chunks(WINDOW) {
            let mut pending = Vec::with_capacity(window.len());
            for (id, message) in window {
                pending.push((self.send("syslog", message.as_bytes())?, *id));
            }
            self.io
                .get_mut()
                .flush()
                .map_err(|e| format!("RELP syslog: {e}"))?;
            for (txnr, id) in pending {
                self.response(txnr)?;
                *acked = id;
            }
        }
        Ok(())
    }

    /// Ends the session: `close`, its response, then the stream.
    pub(crate) fn close(mut self) {
        if let Ok(txnr) = self.send("close", b"") {
            let _ = self.io.get_mut().flush();
            let _ = self.response(txnr);
        }
        self.io.into_inner().finish();
    }

    /// Reads the `rsp` to `txnr`; anything but 200 is an error.
    fn response(&mut self, txnr: u32) -> Result<Vec<u8>, String> {
        let frame = loop {
            let f = self.frame()?;
            match (f.txnr, f.command.as_str()) {
                (0, "serverclose") => return Err("the RELP server closed the session".into()),
                (0, _) => continue,
                _ => break f,
            }
        };
        if frame.command != "rsp" || frame.txnr != txnr {
            return Err(format!(
                "RELP: expected the response to command {txnr}, got `{} {}`",
                frame.txnr, frame.command
            ));
        }
        let code = frame
            .data
            .get(..3)
            .map(|c| String::from_utf8_lossy(c).into_owned());
        if code.as_deref() != Some("200") {
            let text = String::from_utf8_lossy(&frame.data);
            return Err(format!(
                "the RELP server refused command {txnr}: {}",
                text.lines().next().unwrap_or("")
            ));
        }
        Ok(frame.data)
    }

    fn byte(&mut self) -> Result<u8, String> {
        let mut b = [0u8; 1];
        match self.io.read_exact(&mut b) {
            Ok(()) => Ok(b[0]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err("the RELP server closed the connection".into())
            }
            Err(e) => Err(format!("RELP: no response ({e})")),
        }
    }

    /// Reads up to a space or LF (returned as the second value), at most `max` bytes.
    fn token(&mut self, max: usize) -> Result<(String, u8), String> {
        let mut out = Vec::new();
        loop {
            let b = self.byte()?;
            if b == b' ' || b == b'\n' {
                return Ok((String::from_utf8_lossy(&out).into_owned(), b));
            }
            if out.len() >= max {
                return Err("RELP: framing error (header field too long)".into());
            }
            out.push(b);
        }
    }

    fn frame(&mut self) -> Result<Frame, String> {
        let framing = |what: &str| format!("RELP: framing error ({what})");
        let (txnr, _) = self.token(9)?;
        let txnr: u32 = txnr.parse().map_err(|_| framing("transaction number"))?;
        let (command, _) = self.token(32)?;
        let (len, end) = self.token(9)?;
        let len: usize = len.parse().map_err(|_| framing("data length"))?;
        if len > MAX_DATA {
            return Err(framing("data too long"));
        }
        let mut data = vec![0u8; len];
        if end == b' ' {
            self.io
                .read_exact(&mut data)
                .map_err(|e| format!("RELP: {e}"))?;
            if self.byte()? != b'\n' {
                return Err(framing("no trailer"));
            }
        } else if len != 0 {
            return Err(framing("data missing"));
        }
        Ok(Frame {
            txnr,
            command,
            data,
        })
    }
}
