//! The floor: a hand-written single-threaded mio line echo server, the
//! least work an event loop can do for this protocol (read, find the lines,
//! write them back, keep what could not be written). Like tokio and rpoe,
//! it stops reading at a short read, which proves the socket drained
//! (epoll(7)), instead of reading once more for `WouldBlock`.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    /// Bytes read after the last complete line.
    partial: Vec<u8>,
    out: Vec<u8>,
    writable_armed: bool,
}

/// Serves until killed.
pub fn serve(port: u16) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut listener = TcpListener::bind(addr).expect("bind");
    let mut poll = Poll::new().expect("poll");
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register");
    let mut events = Events::with_capacity(1024);
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut buf = vec![0u8; 65536];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            panic!("poll: {e}");
        }
        for ev in &events {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let t = Token(next);
                            next += 1;
                            poll.registry()
                                .register(&mut stream, t, Interest::READABLE)
                                .expect("register");
                            conns.insert(
                                t.0,
                                Conn {
                                    stream,
                                    partial: Vec::new(),
                                    out: Vec::new(),
                                    writable_armed: false,
                                },
                            );
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
                continue;
            }
            let key = ev.token().0;
            let Some(c) = conns.get_mut(&key) else {
                continue;
            };
            let mut closed = false;
            if ev.is_readable() {
                loop {
                    match c.stream.read(&mut buf) {
                        Ok(0) => {
                            closed = true;
                            break;
                        }
                        Ok(n) => {
                            let data = &buf[..n];
                            // Echo every complete line; keep the rest.
                            match data.iter().rposition(|b| *b == b'\n') {
                                Some(last) => {
                                    c.out.extend_from_slice(&c.partial);
                                    c.partial.clear();
                                    c.out.extend_from_slice(&data[..=last]);
                                    c.partial.extend_from_slice(&data[last + 1..]);
                                }
                                None => c.partial.extend_from_slice(data),
                            }
                            // A short read drains a stream socket (epoll(7)):
                            // no last read for `WouldBlock`, unless the peer's
                            // end of output came with the event (read it now).
                            if n < buf.len() && !ev.is_read_closed() && !ev.is_error() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => {
                            closed = true;
                            break;
                        }
                    }
                }
            }
            if !closed && !c.out.is_empty() {
                let mut written = 0;
                while written < c.out.len() {
                    match c.stream.write(&c.out[written..]) {
                        Ok(n) => written += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => {
                            closed = true;
                            break;
                        }
                    }
                }
                c.out.drain(..written);
                let want_write = !c.out.is_empty();
                if want_write != c.writable_armed {
                    let interest = if want_write {
                        Interest::READABLE | Interest::WRITABLE
                    } else {
                        Interest::READABLE
                    };
                    let _ = poll
                        .registry()
                        .reregister(&mut c.stream, ev.token(), interest);
                    c.writable_armed = want_write;
                }
            }
            if closed {
                if let Some(mut c) = conns.remove(&key) {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
            }
        }
    }
}
