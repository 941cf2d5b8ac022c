//! A TCP proxy between Locksmith and its server that cuts or stalls the link
//! at a chosen client packet, so tests can fail each step of the write protocol.
//!
//! MySQL (plain text, targets use tls=disabled through it): the client's
//! stream is split into protocol packets (3-byte length, sequence id,
//! payload) and a command is recognised by its first byte — COM_QUERY 0x03,
//! COM_STMT_PREPARE 0x16, COM_STMT_EXECUTE 0x17. The SQL of an EXECUTE is
//! the one its statement id was prepared with (read from the server's
//! COM_STMT_PREPARE_OK), so a cached prepared statement is recognised too.
//! A cut happens exactly at the packet: `Before` forwards every packet up to
//! the matching one, `After` forwards it too and cuts once the server's
//! answer arrived (its reply is never passed on).
//!
//! Other protocols (TDS): `Packet::Bytes` matches raw bytes in a chunk.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

pub const COM_QUERY: u8 = 0x03;
pub const COM_STMT_PREPARE: u8 = 0x16;
pub const COM_STMT_EXECUTE: u8 = 0x17;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum When {
    /// The matching client packet never reaches the server.
    Before,
    /// The server gets the packet and answers it; the answer never reaches the client.
    After,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Close both sides: the client sees a lost connection.
    Drop,
    /// Stall silently until the client goes away (for SIGKILL tests).
    Hold,
}

/// Which client packet a trigger acts on.
#[derive(Clone, Debug)]
pub enum Packet {
    /// A MySQL command packet whose SQL contains `sql`.
    MySql { command: u8, sql: String },
    /// Any chunk containing these bytes (protocols the proxy does not frame).
    Bytes(Vec<u8>),
}

impl Packet {
    pub fn query(sql: &str) -> Packet {
        Packet::MySql {
            command: COM_QUERY,
            sql: sql.into(),
        }
    }
    pub fn prepare(sql: &str) -> Packet {
        Packet::MySql {
            command: COM_STMT_PREPARE,
            sql: sql.into(),
        }
    }
    pub fn execute(sql: &str) -> Packet {
        Packet::MySql {
            command: COM_STMT_EXECUTE,
            sql: sql.into(),
        }
    }
}

/// Runs once the server has answered the trigger's packet (`After`), before
/// the link is cut: the place to look at the server's state from a second session.
pub type OnAnswer = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
pub struct Trigger {
    pub packet: Packet,
    /// Act only once a packet matching this one has gone through (e.g. the
    /// SELECT executed after the UPDATE is the verify re-read).
    pub armed_by: Option<Packet>,
    pub when: When,
    pub fault: Fault,
    pub on_answer: Option<OnAnswer>,
}

impl Trigger {
    pub fn new(packet: Packet, when: When, fault: Fault) -> Trigger {
        Trigger {
            packet,
            armed_by: None,
            when,
            fault,
            on_answer: None,
        }
    }
}

/// What the proxy knows about the MySQL conversation.
#[derive(Default)]
struct Conversation {
    /// statement id → the SQL it was prepared with.
    prepared: HashMap<u32, String>,
    /// The SQL of a COM_STMT_PREPARE whose answer has not come yet.
    preparing: Option<String>,
    /// Server packets seen since the trigger's packet went through (After).
    answered: bool,
}

pub struct Proxy {
    pub port: u16,
    /// Set once the trigger has fired.
    pub hit: Arc<AtomicBool>,
    /// Set once the fault is in place: for `After`, the server has answered.
    pub acted: Arc<AtomicBool>,
}

type Shared = Arc<(Mutex<Conversation>, Condvar)>;

/// One MySQL packet: (sequence id, payload), from a buffer of client bytes.
fn next_packet(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    if buf.len() < 4 {
        return None;
    }
    let len = buf[0] as usize | (buf[1] as usize) << 8 | (buf[2] as usize) << 16;
    if buf.len() < 4 + len {
        return None;
    }
    Some(buf.drain(..4 + len).collect())
}

fn command_sql(packet: &[u8], conv: &Conversation) -> Option<(u8, String)> {
    // A command starts a conversation: sequence id 0.
    if packet.len() < 5 || packet[3] != 0 {
        return None;
    }
    let command = packet[4];
    let body = &packet[5..];
    let sql = match command {
        COM_QUERY | COM_STMT_PREPARE => String::from_utf8_lossy(body).into_owned(),
        COM_STMT_EXECUTE if body.len() >= 4 => {
            let id = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
            conv.prepared.get(&id).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    Some((command, sql))
}

fn matches(want: &Packet, raw: &[u8], command: Option<&(u8, String)>) -> bool {
    match want {
        Packet::Bytes(p) => raw.windows(p.len()).any(|w| w == p.as_slice()),
        Packet::MySql { command: c, sql } => {
            command.is_some_and(|(have, text)| have == c && text.contains(sql.as_str()))
        }
    }
}

impl Proxy {
    pub fn start(upstream: String, trigger: Trigger) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let hit = Arc::new(AtomicBool::new(false));
        let hit2 = hit.clone();
        let acted = Arc::new(AtomicBool::new(false));
        let acted2 = acted.clone();
        // Fires once across connections: Locksmith uses one connection per run.
        let armed = Arc::new(AtomicBool::new(trigger.armed_by.is_none()));
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    break;
                };
                let conv: Shared = Arc::new((Mutex::new(Conversation::default()), Condvar::new()));
                let muted = Arc::new(AtomicBool::new(false));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let link = Link {
                    trigger: trigger.clone(),
                    hit: hit2.clone(),
                    acted: acted2.clone(),
                    armed: armed.clone(),
                    conv: conv.clone(),
                    muted: muted.clone(),
                };
                thread::spawn(move || link.client_to_server(client, server));
                thread::spawn(move || server_to_client(s2, c2, conv, muted));
            }
        });
        Proxy { port, hit, acted }
    }
}

struct Link {
    trigger: Trigger,
    hit: Arc<AtomicBool>,
    acted: Arc<AtomicBool>,
    armed: Arc<AtomicBool>,
    conv: Shared,
    muted: Arc<AtomicBool>,
}

impl Link {
    fn client_to_server(self, mut client: TcpStream, mut server: TcpStream) {
        let mysql = matches!(self.trigger.packet, Packet::MySql { .. });
        let mut buf = vec![0u8; 1 << 16];
        let mut pending: Vec<u8> = Vec::new();
        'read: loop {
            let n = match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            // MySQL: packet by packet; anything else: the chunk as it came.
            while let Some(packet) = if mysql {
                next_packet(&mut pending)
            } else {
                (!pending.is_empty()).then(|| std::mem::take(&mut pending))
            } {
                if self.muted.load(Ordering::SeqCst) {
                    continue;
                }
                let command = {
                    let mut conv = self.conv.0.lock().unwrap();
                    let command = command_sql(&packet, &conv);
                    if let Some((COM_STMT_PREPARE, sql)) = &command {
                        conv.preparing = Some(sql.clone());
                    }
                    command
                };
                let fire = !self.hit.load(Ordering::SeqCst)
                    && self.armed.load(Ordering::SeqCst)
                    && matches(&self.trigger.packet, &packet, command.as_ref());
                if let Some(arm) = &self.trigger.armed_by
                    && matches(arm, &packet, command.as_ref())
                {
                    self.armed.store(true, Ordering::SeqCst);
                }
                if fire {
                    self.hit.store(true, Ordering::SeqCst);
                    self.act(&packet, &mut client, &mut server);
                    break 'read;
                }
                if server.write_all(&packet).is_err() {
                    break 'read;
                }
            }
        }
        let _ = server.shutdown(Shutdown::Both);
    }

    fn act(&self, packet: &[u8], client: &mut TcpStream, server: &mut TcpStream) {
        if self.trigger.when == When::After {
            // The server acts on the packet; its answer is swallowed.
            self.muted.store(true, Ordering::SeqCst);
            self.conv.0.lock().unwrap().answered = false;
            let _ = server.write_all(packet);
            let (lock, cv) = &*self.conv;
            let conv = lock.lock().unwrap();
            drop(
                cv.wait_timeout_while(conv, Duration::from_secs(30), |c| !c.answered)
                    .unwrap(),
            );
            if let Some(look) = &self.trigger.on_answer {
                look();
            }
        } else {
            self.muted.store(true, Ordering::SeqCst);
        }
        self.acted.store(true, Ordering::SeqCst);
        match self.trigger.fault {
            Fault::Drop => {
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            }
            Fault::Hold => {
                // Swallow whatever the client sends until it dies.
                let mut buf = [0u8; 4096];
                while let Ok(n) = client.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                let _ = server.shutdown(Shutdown::Both);
            }
        }
    }
}

fn server_to_client(
    mut server: TcpStream,
    mut client: TcpStream,
    conv: Shared,
    muted: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let (lock, cv) = &*conv;
            let mut c = lock.lock().unwrap();
            // COM_STMT_PREPARE_OK: 0x00, then the statement id (after the 4-byte header).
            if let Some(sql) = c.preparing.take()
                && n >= 9
                && buf[4] == 0x00
            {
                let id = u32::from_le_bytes([buf[5], buf[6], buf[7], buf[8]]);
                c.prepared.insert(id, sql);
            }
            if muted.load(Ordering::SeqCst) {
                c.answered = true;
                cv.notify_all();
            }
        }
        if muted.load(Ordering::SeqCst) {
            continue;
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let (lock, cv) = &*conv;
    lock.lock().unwrap().answered = true;
    cv.notify_all();
}
