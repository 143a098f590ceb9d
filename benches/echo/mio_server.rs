//! The floor: a hand-written single-threaded mio line echo server, the
//! least work an event loop can do for this protocol (read, find the lines,
//! write them back, keep what could not be written). Like tokio and rpoe,
//! it stops reading at a short read, which proves the socket drained
//! (epoll(7)), instead of reading once more for `WouldBlock`.
//!
//! With [`Framing::Lines`] the same server is the floor of the per-line
//! model instead ("mio lines"): each line (ended by CR, LF, CRLF or LFCR,
//! as rpoe's default Line filter) becomes an owned record handed to a
//! boxed handler, which queues it with a CRLF and hands its buffer back
//! for the next line. That is the least a loop that delivers one record
//! per line to a handler can do, without sessions or an event queue.

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

/// What the server does with the bytes it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Echo every complete line of a read in one piece (the floor).
    Bytes,
    /// One owned record per line, through a handler (the per-line floor).
    Lines,
}

/// The per-line handler: gets a record and the connection's output,
/// returns the record's emptied buffer.
type LineHandler = Box<dyn FnMut(Vec<u8>, &mut Vec<u8>) -> Vec<u8>>;

/// Serves until killed.
pub fn serve(port: u16, framing: Framing) {
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
    // Opaque to the optimiser, as a program's handler would be: each line
    // costs a real indirect call, not inlined code.
    let mut handler: LineHandler = std::hint::black_box(Box::new(|mut record, out| {
        out.extend_from_slice(&record);
        out.extend_from_slice(b"\r\n");
        record.clear();
        record
    }));
    let mut spare: Vec<u8> = Vec::new();
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
                            match framing {
                                // Echo every complete line; keep the rest.
                                Framing::Bytes => match data.iter().rposition(|b| *b == b'\n') {
                                    Some(last) => {
                                        c.out.extend_from_slice(&c.partial);
                                        c.partial.clear();
                                        c.out.extend_from_slice(&data[..=last]);
                                        c.partial.extend_from_slice(&data[last + 1..]);
                                    }
                                    None => c.partial.extend_from_slice(data),
                                },
                                Framing::Lines => echo_lines(c, data, &mut spare, &mut handler),
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

/// The per-line floor's framing: each complete line of `data` (the first
/// one completing what `c.partial` holds) is copied into a record and
/// handed to `handler`; the rest waits in `c.partial`. Lines are copied
/// from the read buffer straight into their records: only a line split
/// across reads is copied twice.
fn echo_lines(c: &mut Conn, data: &[u8], spare: &mut Vec<u8>, handler: &mut LineHandler) {
    let mut rest = data;
    if !c.partial.is_empty() {
        let Some((end, len)) = terminator(rest) else {
            c.partial.extend_from_slice(rest);
            return;
        };
        let mut record = std::mem::take(spare);
        record.extend_from_slice(&c.partial);
        record.extend_from_slice(&rest[..end]);
        c.partial.clear();
        *spare = handler(record, &mut c.out);
        rest = &rest[end + len..];
    }
    while let Some((end, len)) = terminator(rest) {
        let mut record = std::mem::take(spare);
        record.extend_from_slice(&rest[..end]);
        *spare = handler(record, &mut c.out);
        rest = &rest[end + len..];
    }
    c.partial.extend_from_slice(rest);
}

/// The first line terminator in `data` (CR, LF, CRLF or LFCR, as rpoe's
/// default Line filter): its offset and length.
fn terminator(data: &[u8]) -> Option<(usize, usize)> {
    let end = memchr::memchr2(b'\r', b'\n', data)?;
    let pair = if data[end] == b'\r' { b'\n' } else { b'\r' };
    let len = if data.get(end + 1) == Some(&pair) {
        2
    } else {
        1
    };
    Some((end, len))
}
