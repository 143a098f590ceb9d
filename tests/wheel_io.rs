//! ReadWrite on real sockets (127.0.0.1 and Unix pairs) under load and
//! faults (reliability.md): a 10 MB burst arrives whole whatever the read
//! budget; one flooding peer does not starve another; pause then resume
//! delivers what was buffered with no new data; a peer that resets gives
//! an ErrorEvent, not a dead process; a half-closed peer still receives
//! every byte written after its shutdown.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream as StdTcpStream};
use std::rc::Rc;
use std::thread;

use rpoe::filter::Stream;
use rpoe::wheel::ReadWrite;
use rpoe::{args, Kernel, Session, ARG0, ARG1};

const TEN_MB: usize = 10 * 1024 * 1024;

/// A connected pair over 127.0.0.1: (ours, non-blocking mio; theirs, std).
fn tcp_pair() -> (mio::net::TcpStream, StdTcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let theirs = StdTcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (ours, _) = l.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    (mio::net::TcpStream::from_std(ours), theirs)
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

#[derive(Default)]
struct Counter {
    w: Option<ReadWrite>,
    received: usize,
    bad: usize,
    eof: bool,
}

/// 10 MB written in one burst, then EOF: every byte arrives, in order,
/// with a read budget of `budget` bytes per wakeup.
fn burst(budget: usize, block: usize) {
    let (ours, mut theirs) = tcp_pair();
    let writer = thread::spawn(move || {
        let data: Vec<u8> = (0..TEN_MB).map(pattern).collect();
        theirs.write_all(&data).unwrap();
        theirs.shutdown(Shutdown::Write).unwrap();
        theirs
    });
    let mut kernel = Kernel::new().unwrap();
    let out = Rc::new(RefCell::new((0usize, 0usize, false)));
    let out2 = out.clone();
    let ours = RefCell::new(Some(ours));
    Session::new(Counter::default())
        .inline_state("_start", move |ctx, _| {
            let s = ours.borrow_mut().take().unwrap();
            let w = ReadWrite::new(s)
                .filter(Stream::new())
                .read_budget(budget)
                .block_size(block)
                .input_event("input")
                .error_event("error")
                .create(ctx)
                .unwrap();
            ctx.heap.w = Some(w);
        })
        .inline_state("input", |ctx, args| {
            let chunk = args.value(ARG0).unwrap().as_bytes().unwrap();
            let start = ctx.heap.received;
            for (k, b) in chunk.iter().enumerate() {
                if *b != pattern(start + k) {
                    ctx.heap.bad += 1;
                }
            }
            ctx.heap.received += chunk.len();
        })
        .inline_state("error", move |ctx, args| {
            assert_eq!(args.get::<&str>(ARG0).unwrap(), "read");
            assert_eq!(args.get::<i64>(ARG1).unwrap(), 0, "EOF");
            ctx.heap.eof = true;
            *out2.borrow_mut() = (ctx.heap.received, ctx.heap.bad, true);
            ctx.heap.w = None;
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let _theirs = writer.join().unwrap();
    let (received, bad, eof) = *out.borrow();
    assert!(eof);
    assert_eq!(received, TEN_MB);
    assert_eq!(bad, 0, "bytes out of order");
}

#[test]
fn ten_mb_burst_with_a_64k_budget() {
    burst(64 * 1024, 64 * 1024);
}

#[test]
fn ten_mb_burst_with_a_one_byte_budget() {
    burst(1, 64 * 1024);
}

#[derive(Default)]
struct Fair {
    flood: Option<ReadWrite>,
    quiet: Option<ReadWrite>,
    flood_bytes: usize,
    quiet_seen_at: Option<usize>,
}

/// One peer floods 10 MB while another sends one line: with a 64 KiB
/// budget the line is delivered long before the flood is drained.
#[test]
fn a_flooding_peer_does_not_starve_another() {
    let (flood_ours, mut flood_theirs) = tcp_pair();
    let (quiet_ours, mut quiet_theirs) = tcp_pair();
    // Fill the kernel buffers first, so both are readable at once.
    let writer = thread::spawn(move || {
        let data = vec![7u8; TEN_MB];
        flood_theirs.write_all(&data).unwrap();
        flood_theirs.shutdown(Shutdown::Write).unwrap();
        flood_theirs
    });
    quiet_theirs.write_all(b"hello\r\n").unwrap();
    thread::sleep(std::time::Duration::from_millis(50));
    let mut kernel = Kernel::new().unwrap();
    let seen = Rc::new(RefCell::new(None));
    let seen2 = seen.clone();
    let socks = RefCell::new(Some((flood_ours, quiet_ours)));
    Session::new(Fair::default())
        .inline_state("_start", move |ctx, _| {
            let (f, q) = socks.borrow_mut().take().unwrap();
            let fw = ReadWrite::new(f)
                .filter(Stream::new())
                .read_budget(64 * 1024)
                .input_event("flood_in")
                .error_event("flood_err")
                .create(ctx)
                .unwrap();
            let qw = ReadWrite::new(q)
                .input_event("quiet_in")
                .create(ctx)
                .unwrap();
            ctx.heap.flood = Some(fw);
            ctx.heap.quiet = Some(qw);
        })
        .inline_state("flood_in", |ctx, args| {
            ctx.heap.flood_bytes += args.value(ARG0).unwrap().as_bytes().unwrap().len();
        })
        .inline_state("quiet_in", |ctx, _| {
            ctx.heap.quiet_seen_at = Some(ctx.heap.flood_bytes);
            ctx.heap.quiet = None;
        })
        .inline_state("flood_err", move |ctx, _| {
            assert_eq!(ctx.heap.flood_bytes, TEN_MB);
            *seen2.borrow_mut() = ctx.heap.quiet_seen_at;
            ctx.heap.flood = None;
            ctx.heap.quiet = None;
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    writer.join().unwrap();
    let at = seen.borrow().expect("the quiet peer's line arrived");
    assert!(
        at < TEN_MB / 2,
        "the quiet line waited for {at} bytes of the flood"
    );
}

#[derive(Default)]
struct Paused {
    w: Option<ReadWrite>,
    lines: Vec<String>,
}

/// Three lines arrive in one read; the session pauses in the first
/// InputEvent and resumes later. The two buffered lines are delivered
/// although no new data ever arrives (the peer stays open and silent).
#[test]
fn resume_delivers_buffered_records_without_new_data() {
    let (ours, mut theirs) = tcp_pair();
    theirs.write_all(b"a\r\nb\r\nc\r\n").unwrap();
    thread::sleep(std::time::Duration::from_millis(20));
    let mut kernel = Kernel::new().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let got2 = got.clone();
    let ours = RefCell::new(Some(ours));
    Session::new(Paused::default())
        .inline_state("_start", move |ctx, _| {
            let w = ReadWrite::new(ours.borrow_mut().take().unwrap())
                .input_event("input")
                .create(ctx)
                .unwrap();
            ctx.heap.w = Some(w);
        })
        .inline_state("input", move |ctx, args| {
            let l = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap.lines.push(l);
            match ctx.heap.lines.len() {
                1 => {
                    ctx.heap.w.as_ref().unwrap().pause_input();
                    ctx.delay("resume", 0.1, args![]);
                }
                3 => {
                    *got2.borrow_mut() = std::mem::take(&mut ctx.heap.lines);
                    ctx.heap.w = None;
                }
                _ => {}
            }
        })
        .inline_state("resume", |ctx, _| {
            assert_eq!(ctx.heap.lines.len(), 1, "paused: nothing more delivered");
            ctx.heap.w.as_ref().unwrap().resume_input();
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*got.borrow(), ["a", "b", "c"]);
    drop(theirs);
}

#[derive(Default)]
struct Resetting {
    w: Option<ReadWrite>,
    errors: Vec<(String, i64)>,
}

/// The session writes megabytes to a peer that resets the connection
/// (SO_LINGER 0, then close) without reading: an ErrorEvent reports it,
/// the process lives (SIGPIPE is ignored), and the session ends cleanly.
#[test]
fn a_peer_reset_mid_write_is_an_error_event() {
    let (ours, theirs) = tcp_pair();
    let mut kernel = Kernel::new().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let got2 = got.clone();
    let ours = RefCell::new(Some(ours));
    let theirs = RefCell::new(Some(theirs));
    Session::new(Resetting::default())
        .inline_state("_start", move |ctx, _| {
            let w = ReadWrite::new(ours.borrow_mut().take().unwrap())
                .filter(Stream::new())
                .input_event("input")
                .error_event("error")
                .create(ctx)
                .unwrap();
            for _ in 0..64 {
                w.put(vec![0u8; 64 * 1024]);
            }
            ctx.heap.w = Some(w);
            // The peer resets once our first writes are under way.
            let t = theirs.borrow_mut().take().unwrap();
            let s = socket2::SockRef::from(&t);
            s.set_linger(Some(std::time::Duration::ZERO)).unwrap();
            ctx.delay_set("reset", 0.05, args![rpoe::Value::shared(t)]);
        })
        .inline_state("reset", |_, mut args| {
            let t: StdTcpStream = args.take_shared(ARG0).unwrap();
            drop(t); // RST
        })
        .inline_state("input", |_, _| {})
        .inline_state("error", move |ctx, args| {
            let op: &str = args.get(ARG0).unwrap();
            let n: i64 = args.get(ARG1).unwrap();
            ctx.heap.errors.push((op.to_owned(), n));
            got2.borrow_mut().push((op.to_owned(), n));
            if op == "read" || ctx.heap.errors.len() >= 2 {
                ctx.heap.w = None;
            }
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let errors = got.borrow();
    assert!(!errors.is_empty(), "the reset was reported");
    for (op, n) in errors.iter() {
        assert!(op == "read" || op == "write", "{op}");
        // ECONNRESET (104) or EPIPE (32); a read may also see EOF (0).
        assert!([0, 32, 104].contains(n), "errno {n}");
    }
}

#[derive(Default)]
struct HalfClosed {
    w: Option<ReadWrite>,
    eof: bool,
}

/// The peer sends a request and shuts down its sending side. The session
/// sees the request, then EOF (ErrorEvent read 0), and answers with 4 MB
/// after that: the half-closed peer receives all of it, then EOF when the
/// wheel is dropped at FlushedEvent.
#[test]
fn a_half_closed_peer_gets_every_byte() {
    let (ours, mut theirs) = tcp_pair();
    let reader = thread::spawn(move || {
        theirs.write_all(b"request\r\n").unwrap();
        theirs.shutdown(Shutdown::Write).unwrap();
        let mut all = Vec::new();
        theirs.read_to_end(&mut all).unwrap();
        all
    });
    let mut kernel = Kernel::new().unwrap();
    let ours = RefCell::new(Some(ours));
    Session::new(HalfClosed::default())
        .inline_state("_start", move |ctx, _| {
            let w = ReadWrite::new(ours.borrow_mut().take().unwrap())
                .input_event("input")
                .error_event("error")
                .flushed_event("flushed")
                .create(ctx)
                .unwrap();
            ctx.heap.w = Some(w);
        })
        .inline_state("input", |_, args| {
            assert_eq!(args.value(ARG0).unwrap().as_utf8(), Some("request"));
        })
        .inline_state("error", |ctx, args| {
            assert_eq!(args.get::<&str>(ARG0).unwrap(), "read");
            assert_eq!(args.get::<i64>(ARG1).unwrap(), 0);
            ctx.heap.eof = true;
            let w = ctx.heap.w.as_ref().unwrap();
            for i in 0..4096 {
                w.put(format!("{i:04} {}", "x".repeat(1017)));
            }
        })
        .inline_state("flushed", |ctx, _| {
            assert!(ctx.heap.eof);
            ctx.heap.w = None;
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let all = reader.join().unwrap();
    assert_eq!(all.len(), 4096 * 1024, "every byte of the reply");
    assert!(all.starts_with(b"0000 x"));
    assert!(all.ends_with(b"x\r\n"));
}

/// The same wheel works on a Unix-domain stream pair.
#[test]
fn unix_stream_pair_echo() {
    let (a, b) = mio::net::UnixStream::pair().unwrap();
    let mut kernel = Kernel::new().unwrap();
    let got = Rc::new(RefCell::new(Vec::<String>::new()));
    let got2 = got.clone();
    let socks = RefCell::new(Some((a, b)));
    #[derive(Default)]
    struct Two {
        a: Option<ReadWrite>,
        b: Option<ReadWrite>,
    }
    Session::new(Two::default())
        .inline_state("_start", move |ctx, _| {
            let (a, b) = socks.borrow_mut().take().unwrap();
            let a = ReadWrite::new(a).input_event("a_in").create(ctx).unwrap();
            let b = ReadWrite::new(b).input_event("b_in").create(ctx).unwrap();
            a.put("ping");
            ctx.heap.a = Some(a);
            ctx.heap.b = Some(b);
        })
        .inline_state("b_in", |ctx, args| {
            let l = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap.b.as_ref().unwrap().put(format!("{l} pong"));
        })
        .inline_state("a_in", move |ctx, args| {
            got2.borrow_mut()
                .push(args.value(ARG0).unwrap().as_utf8().unwrap().to_owned());
            ctx.heap.a = None;
            ctx.heap.b = None;
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*got.borrow(), ["ping pong"]);
}
