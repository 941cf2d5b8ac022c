//! A byte stream over a dump: line heads (bounded), fast skips to the next
//! newline, single bytes for the tuple parser, and a push-back so a line head
//! can be handed back to that parser. Nothing holds more than one line head
//! and one value, whatever the dump's size.

use std::io::{BufRead, ErrorKind};

use super::BackupError;

/// Longest line head kept; the rest of a longer line is skipped or streamed.
pub const HEAD_CAP: usize = 64 * 1024;

pub struct Input<R: BufRead> {
    inner: R,
    pending: Vec<u8>,
    pending_pos: usize,
    /// 1-based line number of the current position (for error messages).
    pub line: u64,
}

impl<R: BufRead> Input<R> {
    pub fn new(inner: R) -> Input<R> {
        Input {
            inner,
            pending: Vec::new(),
            pending_pos: 0,
            line: 1,
        }
    }

    fn fill(&mut self) -> Result<&[u8], BackupError> {
        loop {
            match self.inner.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(BackupError::read(e)),
            }
        }
        // Buffered now: this call returns the same bytes without reading.
        self.inner.fill_buf().map_err(BackupError::read)
    }

    /// Hands `bytes` back: they are read again before the stream.
    pub fn unread(&mut self, bytes: &[u8]) {
        let mut rest = bytes.to_vec();
        rest.extend_from_slice(&self.pending[self.pending_pos..]);
        self.pending = rest;
        self.pending_pos = 0;
    }

    pub fn next(&mut self) -> Result<Option<u8>, BackupError> {
        if self.pending_pos < self.pending.len() {
            let b = self.pending[self.pending_pos];
            self.pending_pos += 1;
            if b == b'\n' {
                self.line += 1;
            }
            return Ok(Some(b));
        }
        let b = match self.fill()?.first() {
            None => return Ok(None),
            Some(b) => *b,
        };
        self.inner.consume(1);
        if b == b'\n' {
            self.line += 1;
        }
        Ok(Some(b))
    }

    pub fn peek(&mut self) -> Result<Option<u8>, BackupError> {
        if self.pending_pos < self.pending.len() {
            return Ok(Some(self.pending[self.pending_pos]));
        }
        Ok(self.fill()?.first().copied())
    }

    /// Reads the next line into `head` (without its newline), at most
    /// `HEAD_CAP` bytes. Returns None at the end of the stream, else whether
    /// the whole line was read (false: the stream stands inside the line).
    pub fn read_head(&mut self, head: &mut Vec<u8>) -> Result<Option<bool>, BackupError> {
        head.clear();
        let mut any = false;
        while self.pending_pos < self.pending.len() {
            any = true;
            let b = self.pending[self.pending_pos];
            self.pending_pos += 1;
            if b == b'\n' {
                self.line += 1;
                return Ok(Some(true));
            }
            head.push(b);
            if head.len() >= HEAD_CAP {
                return Ok(Some(false));
            }
        }
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(if any || !head.is_empty() {
                    Some(true)
                } else {
                    None
                });
            }
            any = true;
            let room = HEAD_CAP - head.len();
            let window = &buf[..buf.len().min(room)];
            if let Some(i) = memchr::memchr(b'\n', window) {
                head.extend_from_slice(&window[..i]);
                self.inner.consume(i + 1);
                self.line += 1;
                return Ok(Some(true));
            }
            let n = window.len();
            head.extend_from_slice(window);
            self.inner.consume(n);
            if head.len() >= HEAD_CAP {
                return Ok(Some(false));
            }
        }
    }

    /// Skips to just after the next newline (or the end).
    pub fn skip_line(&mut self) -> Result<(), BackupError> {
        while self.pending_pos < self.pending.len() {
            let b = self.pending[self.pending_pos];
            self.pending_pos += 1;
            if b == b'\n' {
                self.line += 1;
                return Ok(());
            }
        }
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(());
            }
            if let Some(i) = memchr::memchr(b'\n', buf) {
                self.inner.consume(i + 1);
                self.line += 1;
                return Ok(());
            }
            let n = buf.len();
            self.inner.consume(n);
        }
    }
}
