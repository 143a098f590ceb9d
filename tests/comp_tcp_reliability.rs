//! Server::TCP under what peers can do (reliability.md items 2, 6, 7, 11,
//! 15): megabytes with no newline end that client alone; a half-closed
//! client still gets every byte of its reply; 10,000 connect-echo-disconnect
//! cycles are in `comp_tcp_cycles`; one server on 127.0.0.1 and ::1 at once.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream as StdTcpStream};
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use rpoe::component::{ListenerHeap, ServerTcp};
use rpoe::filter::Line;
use rpoe::{args, Kernel, SessionId, ARG0, ARG1};

fn port_of(kernel: &mut Kernel, id: SessionId) -> u16 {
    kernel
        .with_heap(id, |h: &mut ListenerHeap<()>| h.local_addrs()[0].port())
        .unwrap()
}

/// A client sends 10 MB without a newline (the line limit is 64 KiB): it
/// gets ClientError ("filter", EMSGSIZE) and is disconnected, without the
/// server buffering the megabytes, while another client's echo goes on.
#[test]
fn an_endless_line_ends_that_client_alone() {
    let mut kernel = Kernel::new().unwrap();
    let errors = Rc::new(RefCell::new(Vec::<(String, i64)>::new()));
    let e2 = errors.clone();
    let id = ServerTcp::new()
        .address("127.0.0.1")
        .alias("lines")
        .client_filter(Line::builder().max_length(64 * 1024).build().unwrap())
        .client_input(|ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap.client.put(format!("echo: {line}"));
            if line == "bye" {
                ctx.yield_("shutdown", args![]);
                let _ = ctx.post("lines", "shutdown", args![]);
            }
        })
        .client_error(move |_, args| {
            let op: &str = args.get(ARG0).unwrap();
            let n: i64 = args.get(ARG1).unwrap();
            e2.borrow_mut().push((op.to_owned(), n));
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of(&mut kernel, id);
    let flood = thread::spawn(move || {
        let mut s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
        let chunk = vec![b'x'; 1024 * 1024];
        let mut sent = 0;
        for _ in 0..10 {
            match s.write_all(&chunk) {
                Ok(()) => sent += chunk.len(),
                Err(_) => break, // disconnected: the point
            }
        }
        sent
    });
    let polite = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        let s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut got = Vec::new();
        for word in ["one", "two", "bye"] {
            w.write_all(format!("{word}\r\n").as_bytes()).unwrap();
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            got.push(l);
        }
        got
    });
    kernel.run().unwrap();
    let _ = flood.join().unwrap();
    assert_eq!(
        polite.join().unwrap(),
        ["echo: one\r\n", "echo: two\r\n", "echo: bye\r\n"]
    );
    assert!(
        errors.borrow().contains(&("filter".to_owned(), 90)),
        "{:?}",
        errors.borrow()
    );
}

/// A client sends its request and shuts down its sending side; the server
/// answers with 2 MB after seeing the request: the client receives all of
/// it, then EOF (POE drops it: its EOF handling abandons the output).
#[test]
fn a_half_closed_client_gets_its_whole_reply() {
    let mut kernel = Kernel::new().unwrap();
    let id = ServerTcp::new()
        .address("127.0.0.1")
        .alias("half")
        .client_input(|ctx, args| {
            assert_eq!(args.value(ARG0).unwrap().as_utf8(), Some("request"));
            for i in 0..2048 {
                ctx.heap.client.put(format!("{i:04}{}", "y".repeat(1018)));
            }
        })
        .client_disconnected(|ctx, _| {
            let _ = ctx.post("half", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of(&mut kernel, id);
    let client = thread::spawn(move || {
        let mut s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"request\r\n").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        thread::sleep(Duration::from_millis(100)); // let EOF arrive first
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        all.len()
    });
    kernel.run().unwrap();
    assert_eq!(client.join().unwrap(), 2048 * 1024);
}

/// One server bound to 127.0.0.1 and ::1 (beyond POE), same port, one
/// connection count. Skipped without IPv6.
#[test]
fn one_server_on_two_addresses() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback (::1)");
        return;
    }
    let mut kernel = Kernel::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let s2 = seen.clone();
    let id = ServerTcp::new()
        .addresses(["127.0.0.1", "::1"])
        .alias("dual")
        .client_input(move |ctx, _| {
            s2.borrow_mut().push(ctx.heap.remote_ip.clone());
            ctx.heap.client.put("ok");
            ctx.yield_("shutdown", args![]);
            if s2.borrow().len() == 2 {
                let _ = ctx.post("dual", "shutdown", args![]);
            }
        })
        .create(&mut kernel)
        .unwrap();
    let addrs = kernel
        .with_heap(id, |h: &mut ListenerHeap<()>| h.local_addrs())
        .unwrap();
    assert_eq!(addrs.len(), 2);
    assert_eq!(addrs[0].port(), addrs[1].port(), "one port for both");
    let port = addrs[0].port();
    let client = thread::spawn(move || {
        for host in ["127.0.0.1", "::1"] {
            let mut s = StdTcpStream::connect((host, port)).unwrap();
            s.write_all(b"hi\r\n").unwrap();
            let mut all = String::new();
            s.read_to_string(&mut all).unwrap();
            assert_eq!(all, "ok\r\n");
        }
    });
    kernel.run().unwrap();
    client.join().unwrap();
    let mut seen = seen.borrow().clone();
    seen.sort();
    assert_eq!(seen, ["127.0.0.1", "::1"]);
}

/// A graceful close never resets a client that keeps sending (reliability
/// item 7): the server shuts its side, reads and discards until the
/// client closes, then closes. The client receives all 20 MB, then EOF,
/// never ECONNRESET.
#[test]
fn graceful_close_does_not_reset_a_client_that_keeps_sending() {
    const TOTAL: usize = 20 * 1024 * 1024;
    let mut kernel = Kernel::new().unwrap();
    let id = ServerTcp::new()
        .address("127.0.0.1")
        .alias("noisy")
        .client_filter(rpoe::filter::Stream::new())
        .client_connected(|ctx, _| {
            for _ in 0..20 {
                ctx.heap.client.put(vec![b'z'; 1024 * 1024]);
            }
            ctx.yield_("shutdown", args![]);
        })
        .client_input(|_, _| {})
        .client_disconnected(|ctx, _| {
            let _ = ctx.post("noisy", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of(&mut kernel, id);
    let client = thread::spawn(move || {
        let s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut w = s.try_clone().unwrap();
        let noise = thread::spawn(move || {
            let chunk = [b'n'; 4096];
            for _ in 0..2000 {
                if w.write_all(&chunk).is_err() {
                    break;
                }
                thread::sleep(Duration::from_micros(200));
            }
        });
        let mut r = s;
        let mut got = 0usize;
        let mut buf = vec![0u8; 65536];
        let outcome = loop {
            match r.read(&mut buf) {
                Ok(0) => break Ok(got),
                Ok(n) => got += n,
                Err(e) => break Err(e.kind()),
            }
        };
        drop(r);
        noise.join().unwrap();
        outcome
    });
    kernel.run().unwrap();
    assert_eq!(client.join().unwrap(), Ok(TOTAL), "every byte, then EOF");
}

#[derive(Default)]
struct Producer {
    produced: usize,
    highs: usize,
    lows: usize,
    max_buffered: usize,
    blocked: bool,
}

const CHUNK: usize = 64 * 1024;
const TARGET: usize = 50 * 1024 * 1024;
const HIGH: usize = 256 * 1024;

/// Produces until `put` reports the high mark or everything is sent.
fn produce(ctx: &mut rpoe::Ctx<rpoe::component::ClientHeap<Producer>>) {
    while ctx.heap.user.produced < TARGET {
        let high = ctx.heap.client.put(vec![b'p'; CHUNK]);
        ctx.heap.user.produced += CHUNK;
        let buffered = ctx.heap.client.get_driver_out_octets();
        ctx.heap.user.max_buffered = ctx.heap.user.max_buffered.max(buffered);
        if high {
            ctx.heap.user.blocked = true;
            return;
        }
    }
    ctx.yield_("shutdown", args![]);
}

/// Back-pressure users can see (reliability item 6): 50 MB to a slow
/// reader, produced only while `put` says the high mark is not reached
/// and again at ClientLow. The buffer never holds more than HighMark plus
/// one chunk, and ClientHigh and ClientLow alternate, once per crossing.
#[test]
fn back_pressure_bounds_the_buffer_for_a_slow_reader() {
    let mut kernel = Kernel::new().unwrap();
    let result = std::rc::Rc::new(RefCell::new((0usize, 0usize, 0usize)));
    let r2 = result.clone();
    let id = ServerTcp::with_heaps((), Producer::default)
        .address("127.0.0.1")
        .alias("producer")
        .client_filter(rpoe::filter::Stream::new())
        .high_mark(HIGH)
        .low_mark(64 * 1024)
        .client_high(|ctx, _| {
            ctx.heap.user.highs += 1;
            assert_eq!(ctx.heap.user.highs, ctx.heap.user.lows + 1, "alternating");
        })
        .client_low(|ctx, _| {
            ctx.heap.user.lows += 1;
            assert_eq!(ctx.heap.user.highs, ctx.heap.user.lows, "alternating");
            if ctx.heap.user.blocked {
                ctx.heap.user.blocked = false;
                produce(ctx);
            }
        })
        .client_connected(|ctx, _| produce(ctx))
        .client_input(|_, _| {})
        .client_disconnected(move |ctx, _| {
            let u = &ctx.heap.user;
            *r2.borrow_mut() = (u.max_buffered, u.highs, u.lows);
            let _ = ctx.post("producer", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of(&mut kernel, id);
    let client = thread::spawn(move || {
        let mut s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut got = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => panic!("read: {e}"),
            }
            thread::sleep(Duration::from_micros(100)); // a slow reader
        }
        got
    });
    kernel.run().unwrap();
    assert_eq!(client.join().unwrap(), TARGET);
    let (max_buffered, highs, lows) = *result.borrow();
    assert!(max_buffered <= HIGH + CHUNK, "buffered {max_buffered}");
    assert!(highs >= 1, "the high mark was reached");
    assert_eq!(highs, lows, "each crossing reported once");
}

/// With `keep_half_open`, a client that half-closes after its request gets
/// an answer produced 0.5 s later, then EOF when the program shuts the
/// connection down (reliability item 8, delayed reply).
#[test]
fn keep_half_open_allows_a_delayed_reply() {
    let mut kernel = Kernel::new().unwrap();
    let id = ServerTcp::new()
        .address("127.0.0.1")
        .alias("later")
        .keep_half_open(true)
        .client_input(|ctx, _| {
            ctx.delay("answer", 0.5, args![]);
        })
        .inline_state("answer", |ctx, _| {
            ctx.heap.client.put("the answer, later");
            ctx.yield_("shutdown", args![]);
            let _ = ctx.post("later", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of(&mut kernel, id);
    let client = thread::spawn(move || {
        let mut s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"question\r\n").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        all
    });
    kernel.run().unwrap();
    assert_eq!(client.join().unwrap(), "the answer, later\r\n");
}
