//! ReadWrite's read loop on edge-triggered sources: a read that fills less
//! than its buffer ends the loop on a stream socket (epoll(7): the socket is
//! drained), saving the `read` that would only return `WouldBlock`. Pinned
//! here: that saving; that an end of file reported together with the data
//! is still read (the poller will not report it again); and that a stream
//! which does not promise "short means drained" is read until `WouldBlock`.
//! POE reads once per level-triggered select event, so none of this changes
//! what a POE program sees: every record, then the end of file.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream as StdTcpStream};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::time::Duration;

use mio::event::Source;
use mio::{Interest, Registry, Token};
use rpoe::wheel::ReadWrite;
use rpoe::{args, ByteStream, Kernel, Session, ARG0, ARG1};

/// How long a test waits before calling the wheel stuck.
const GUARD: Duration = Duration::from_secs(5);

/// A Unix stream that counts its reads, returns at most `max` bytes per
/// read, and says whether a short read drains it.
struct Counted {
    inner: mio::net::UnixStream,
    reads: Rc<Cell<usize>>,
    max: usize,
    drains: bool,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads.set(self.reads.get() + 1);
        let n = buf.len().min(self.max);
        self.inner.read(&mut buf[..n])
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Source for Counted {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        self.inner.register(r, t, i)
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        self.inner.reregister(r, t, i)
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        self.inner.deregister(r)
    }
}

impl ByteStream for Counted {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }
    fn short_read_drains(&self) -> bool {
        self.drains
    }
}

/// A wheel end (non-blocking, mio) and a blocking peer.
fn unix_pair() -> (mio::net::UnixStream, StdUnixStream) {
    let (a, b) = StdUnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (mio::net::UnixStream::from_std(a), b)
}

#[derive(Default)]
struct Heap {
    w: Option<ReadWrite>,
    lines: Vec<String>,
    eof: bool,
    timed_out: bool,
    /// Reads the stream had seen when `look` ran.
    reads_seen: Option<usize>,
}

/// What a run found.
struct Found {
    lines: Vec<String>,
    eof: bool,
    timed_out: bool,
    reads_seen: Option<usize>,
}

/// Runs a session with one wheel on `stream` (lines in, `error` for the end
/// of file) and a guard timer. After `lines` lines the input handler yields
/// `look`, which runs once the read handler has returned: it notes `reads`
/// and drops the wheel.
fn run_wheel<S: ByteStream>(stream: S, lines: usize, reads: Rc<Cell<usize>>) -> Found {
    let mut kernel = Kernel::new().unwrap();
    let stream = RefCell::new(Some(stream));
    let out = Rc::new(RefCell::new(None));
    let out2 = out.clone();
    Session::new(Heap::default())
        .inline_state("_start", move |ctx, _| {
            let w = ReadWrite::new(stream.borrow_mut().take().unwrap())
                .input_event("input")
                .error_event("error")
                .create(ctx)
                .unwrap();
            ctx.heap.w = Some(w);
            ctx.delay_set("guard", GUARD.as_secs_f64(), args![]);
        })
        .inline_state("input", move |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap.lines.push(line);
            if ctx.heap.lines.len() == lines {
                ctx.yield_("look", args![]);
            }
        })
        .inline_state("look", move |ctx, _| {
            ctx.heap.reads_seen = Some(reads.get());
            ctx.heap.w = None;
            ctx.alarm_remove_all();
        })
        .inline_state("error", |ctx, args| {
            assert_eq!(args.get::<&str>(ARG0).unwrap(), "read");
            assert_eq!(args.get::<i64>(ARG1).unwrap(), 0, "end of file");
            ctx.heap.eof = true;
            ctx.heap.w = None;
            ctx.alarm_remove_all();
        })
        .inline_state("guard", |ctx, _| {
            ctx.heap.timed_out = true;
            ctx.heap.w = None;
        })
        .inline_state("_stop", move |ctx, _| {
            let h = std::mem::take(ctx.heap);
            *out2.borrow_mut() = Some(Found {
                lines: h.lines,
                eof: h.eof,
                timed_out: h.timed_out,
                reads_seen: h.reads_seen,
            });
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let found = out.borrow_mut().take().expect("the session stopped");
    found
}

/// The peer's lines and its end of file are both in the socket before the
/// wheel's first poll, so one readiness report carries both. The first
/// read is short; the loop must still read on to the end of file, since
/// the poller will not report it again.
#[test]
fn data_and_end_of_file_in_one_readiness_are_both_seen() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut theirs = StdTcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (ours, _) = l.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    theirs.write_all(b"one\ntwo\n").unwrap();
    theirs.shutdown(Shutdown::Write).unwrap();
    // Let the FIN land before the wheel's first poll.
    std::thread::sleep(Duration::from_millis(50));
    let found = run_wheel(
        mio::net::TcpStream::from_std(ours),
        usize::MAX,
        Rc::default(),
    );
    assert!(!found.timed_out, "the end of file was never read");
    assert_eq!(found.lines, ["one", "two"]);
    assert!(found.eof);
}

/// A short read is the last read of a readiness report on a stream that
/// promises it drains: two lines cost one read, not a second one that
/// returns `WouldBlock`.
#[test]
fn a_short_read_is_the_last_read_of_a_readiness() {
    let (ours, mut theirs) = unix_pair();
    let reads = Rc::new(Cell::new(0));
    let stream = Counted {
        inner: ours,
        reads: reads.clone(),
        max: usize::MAX,
        drains: true,
    };
    theirs.write_all(b"a\nb\n").unwrap();
    let found = run_wheel(stream, 2, reads);
    assert!(!found.timed_out);
    assert_eq!(found.lines, ["a", "b"]);
    assert_eq!(found.reads_seen, Some(1), "one read for one readiness");
}

/// A stream that returns a few bytes per read without promising that a
/// short read drains it (the default) is read until `WouldBlock`: every
/// line arrives although the peer sends nothing more.
#[test]
fn a_stream_that_reads_in_pieces_is_read_until_it_would_block() {
    let (ours, mut theirs) = unix_pair();
    let reads = Rc::new(Cell::new(0));
    let stream = Counted {
        inner: ours,
        reads: reads.clone(),
        max: 3,
        drains: false,
    };
    theirs.write_all(b"hello\nworld\n").unwrap();
    let found = run_wheel(stream, 2, reads);
    assert!(!found.timed_out, "the wheel stopped at a short read");
    assert_eq!(found.lines, ["hello", "world"]);
    // 12 bytes, 3 at a time, then the read that returns `WouldBlock`.
    assert_eq!(found.reads_seen, Some(5));
}
