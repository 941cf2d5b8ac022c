//! A TCP proxy between Locksmith and MariaDB that cuts or stalls the link at
//! a chosen statement, so tests can fail each step of the write protocol.
//! Plain-text MySQL protocol only (targets use tls=disabled through it).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum When {
    /// The matching client packet never reaches the server.
    Before,
    /// The server gets the packet and acts on it; its reply never reaches the client.
    After,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Close both sides: the client sees a lost connection.
    Drop,
    /// Stall silently until the client goes away (for SIGKILL tests).
    Hold,
}

#[derive(Clone, Debug)]
pub struct Trigger {
    /// Bytes to find in a client packet (statement text).
    pub pattern: Vec<u8>,
    /// Act on the packet `skip` packets after the match (1 = the COM_STMT_EXECUTE after a prepare).
    pub skip: usize,
    pub when: When,
    pub fault: Fault,
}

pub struct Proxy {
    pub port: u16,
    /// Set once the trigger has fired.
    pub hit: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: String, trigger: Trigger) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let hit = Arc::new(AtomicBool::new(false));
        let hit2 = hit.clone();
        // Counts matches across connections: Locksmith uses one connection per run.
        let state = Arc::new((AtomicUsize::new(usize::MAX), AtomicBool::new(false)));
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    break;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (trigger, hit, state) = (trigger.clone(), hit2.clone(), state.clone());
                let muted = Arc::new(AtomicBool::new(false));
                let muted2 = muted.clone();
                // client -> server
                thread::spawn(move || {
                    let (mut client, mut server) = (client, server);
                    let mut buf = vec![0u8; 1 << 16];
                    // packets left until the trigger acts, once matched
                    let countdown = &state.0;
                    let fired = &state.1;
                    loop {
                        let n = match client.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let chunk = &buf[..n];
                        let mut act = false;
                        if !fired.load(Ordering::SeqCst) {
                            let left = countdown.load(Ordering::SeqCst);
                            if left == usize::MAX {
                                if contains(chunk, &trigger.pattern) {
                                    if trigger.skip == 0 {
                                        act = true;
                                    } else {
                                        countdown.store(trigger.skip, Ordering::SeqCst);
                                    }
                                }
                            } else if left == 1 {
                                act = true;
                            } else {
                                countdown.store(left - 1, Ordering::SeqCst);
                            }
                        }
                        if act {
                            fired.store(true, Ordering::SeqCst);
                            hit.store(true, Ordering::SeqCst);
                            if trigger.when == When::After {
                                muted.store(true, Ordering::SeqCst);
                                let _ = server.write_all(chunk);
                            }
                            match trigger.fault {
                                Fault::Drop => {
                                    if trigger.when == When::After {
                                        // Give the server time to act before the link goes.
                                        thread::sleep(std::time::Duration::from_millis(300));
                                    }
                                    let _ = client.shutdown(Shutdown::Both);
                                    let _ = server.shutdown(Shutdown::Both);
                                    break;
                                }
                                Fault::Hold => {
                                    muted.store(true, Ordering::SeqCst);
                                    // Swallow whatever the client sends until it dies.
                                    while let Ok(n) = client.read(&mut buf) {
                                        if n == 0 {
                                            break;
                                        }
                                    }
                                    let _ = server.shutdown(Shutdown::Both);
                                    break;
                                }
                            }
                        }
                        if muted.load(Ordering::SeqCst) {
                            continue;
                        }
                        if server.write_all(chunk).is_err() {
                            break;
                        }
                    }
                    let _ = server.shutdown(Shutdown::Both);
                });
                // server -> client
                thread::spawn(move || {
                    let (mut server, mut client) = (s2, c2);
                    let mut buf = vec![0u8; 1 << 16];
                    loop {
                        let n = match server.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if muted2.load(Ordering::SeqCst) {
                            continue;
                        }
                        if client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = client.shutdown(Shutdown::Both);
                });
            }
        });
        Proxy { port, hit }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
