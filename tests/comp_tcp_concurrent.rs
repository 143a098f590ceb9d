//! Server::TCP Concurrency (SPEC §8.2 and the comp_tcp_concurrent scenario
//! of §12.J): server A (Concurrency 1, a custom Acceptor that posts
//! `disconnected`) never has two connections at once; server B
//! (Concurrency 4, Client* callbacks) never more than four; nine clients per
//! server each get exactly one answer and one end of file. Also
//! `Concurrency 0` (accepts nothing until raised, unlike POE) and
//! `set_concurrency`.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use rpoe::component::{ListenerHeap, ServerTcp};
use rpoe::wheel::ReadWrite;
use rpoe::{args, Args, Kernel, SessionId, ARG0};

const CLIENTS: usize = 9;

/// Nine clients at once; each sends a line, reads to EOF, and returns what
/// it read.
fn clients(port: u16) -> thread::JoinHandle<Vec<String>> {
    thread::spawn(move || {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|i| {
                thread::spawn(move || {
                    let mut s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    s.write_all(format!("client {i}\r\n").as_bytes()).unwrap();
                    let mut all = String::new();
                    s.read_to_string(&mut all).unwrap();
                    all
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn port_of<L: 'static>(kernel: &mut Kernel, id: SessionId) -> u16 {
    kernel
        .with_heap(id, |h: &mut ListenerHeap<L>| h.local_addrs()[0].port())
        .unwrap()
}

#[derive(Default)]
struct A {
    wheels: Vec<ReadWrite>,
    open: usize,
    max_open: usize,
    done: usize,
}

/// Server A: Concurrency 1 with a custom Acceptor that handles each
/// connection in the listener and posts `disconnected` when done.
#[test]
fn concurrency_one_with_an_acceptor() {
    let mut kernel = Kernel::new().unwrap();
    let max = Rc::new(RefCell::new(0));
    let max2 = max.clone();
    let id = ServerTcp::with_heaps(A::default(), || ())
        .address("127.0.0.1")
        .concurrency(1)
        .acceptor(|ctx, mut args: Args| {
            let s: mio::net::TcpStream = args.take_shared(ARG0).unwrap();
            let w = ReadWrite::new(s)
                .input_event("input")
                .flushed_event("flushed")
                .create(ctx)
                .unwrap();
            ctx.heap.user.wheels.push(w);
            ctx.heap.user.open += 1;
            ctx.heap.user.max_open = ctx.heap.user.max_open.max(ctx.heap.user.open);
        })
        .listener_state("input", |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            // Slow enough that the others queue up behind Concurrency.
            ctx.delay("answer", 0.02, args![line]);
        })
        .listener_state("answer", |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap.user.wheels[0].put(format!("A: {line}"));
        })
        .listener_state("flushed", move |ctx, _| {
            ctx.heap.user.wheels.clear();
            ctx.heap.user.open -= 1;
            ctx.heap.user.done += 1;
            *max2.borrow_mut() = ctx.heap.user.max_open;
            let me = ctx.session();
            ctx.post(me, "disconnected", args![]).unwrap();
            if ctx.heap.user.done == CLIENTS {
                ctx.post(me, "shutdown", args![]).unwrap();
            }
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<A>(&mut kernel, id);
    let c = clients(port);
    kernel.run().unwrap();
    let answers = c.join().unwrap();
    assert_eq!(answers.len(), CLIENTS);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a, &format!("A: client {i}\r\n"), "one answer, then EOF");
    }
    assert_eq!(*max.borrow(), 1, "never two connections at once");
}

#[derive(Default)]
struct Counts {
    open: usize,
    max_open: usize,
    done: usize,
}

/// Server B: Concurrency 4 with the default acceptor: never more than four
/// ClientConnected without ClientDisconnected.
#[test]
fn concurrency_four_with_client_callbacks() {
    let mut kernel = Kernel::new().unwrap();
    let counts = Rc::new(RefCell::new(Counts::default()));
    let (c1, c2, c3) = (counts.clone(), counts.clone(), counts.clone());
    let id = ServerTcp::new()
        .address("127.0.0.1")
        .alias("b")
        .concurrency(4)
        .client_connected(move |_, _| {
            let mut c = c1.borrow_mut();
            c.open += 1;
            c.max_open = c.max_open.max(c.open);
        })
        .client_input(|ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.delay("answer", 0.02, args![line]);
        })
        .inline_state("answer", |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap.client.put(format!("B: {line}"));
            ctx.yield_("shutdown", args![]);
        })
        .client_disconnected(move |ctx, _| {
            let mut c = c2.borrow_mut();
            c.open -= 1;
            c.done += 1;
            if c.done == CLIENTS {
                let _ = ctx.post("b", "shutdown", args![]);
            }
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, id);
    let c = clients(port);
    kernel.run().unwrap();
    let answers = c.join().unwrap();
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a, &format!("B: client {i}\r\n"));
    }
    let c = c3.borrow();
    assert_eq!(c.done, CLIENTS);
    assert!(c.max_open <= 4, "{} at once", c.max_open);
    assert!(c.max_open >= 2, "connections did overlap");
}

/// Concurrency 0 accepts nothing (POE accepts the first connection) until
/// `set_concurrency` raises it.
#[test]
fn concurrency_zero_then_raised() {
    let mut kernel = Kernel::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let (l1, l2) = (log.clone(), log.clone());
    let id = ServerTcp::new()
        .address("127.0.0.1")
        .alias("zero")
        .concurrency(0)
        .started(|ctx, _| {
            ctx.delay("check", 0.2, args![]);
        })
        .listener_state("check", move |ctx, _| {
            l1.borrow_mut()
                .push(format!("connections while 0: {}", ctx.heap.connections));
            let me = ctx.session();
            ctx.call(me, "set_concurrency", args![1]).unwrap();
        })
        .client_input(|_, _| {})
        .client_connected(move |ctx, _| {
            l2.borrow_mut().push("connected".into());
            ctx.heap.client.put("hi");
            ctx.yield_("shutdown", args![]);
            let _ = ctx.post("zero", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, id);
    let t = thread::spawn(move || {
        let mut s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        all
    });
    kernel.run().unwrap();
    assert_eq!(t.join().unwrap(), "hi\r\n");
    assert_eq!(*log.borrow(), ["connections while 0: 0", "connected"]);
}

/// Concurrency 10 with 50 clients connecting and leaving at random for two
/// seconds (reliability item 15): never more than 10 live connections,
/// every client served in the end, the count back to 0.
#[test]
fn concurrency_ten_under_churn() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut kernel = Kernel::new().unwrap();
    let counts = Rc::new(RefCell::new(Counts::default()));
    let (c1, c2) = (counts.clone(), counts.clone());
    let id = ServerTcp::new()
        .address("127.0.0.1")
        .alias("ten")
        .concurrency(10)
        .client_connected(move |ctx, _| {
            let mut c = c1.borrow_mut();
            c.open += 1;
            c.max_open = c.max_open.max(c.open);
            let _ = ctx.post("ten", "check", args![]);
        })
        .listener_state("check", |ctx, _| {
            assert!(
                ctx.heap.connections <= 10,
                "{} connections",
                ctx.heap.connections
            );
        })
        .client_input(|ctx, mut args| {
            ctx.heap.client.put(args.take(ARG0));
        })
        .client_disconnected(move |_, _| {
            let mut c = c2.borrow_mut();
            c.open -= 1;
            c.done += 1;
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, id);
    // A ticker, so the loop below wakes even when no client is active.
    let ticking = Rc::new(std::cell::Cell::new(true));
    let t2 = ticking.clone();
    rpoe::Session::new(())
        .inline_state("_start", |ctx, _| ctx.delay("tick", 0.01, args![]))
        .inline_state("tick", move |ctx, _| {
            if t2.get() {
                ctx.delay("tick", 0.01, args![]);
            }
        })
        .create(&mut kernel)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut served = 0;
                let mut seed = 0x9e37_79b9_u64 + i;
                while !stop.load(Ordering::Relaxed) {
                    let mut s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    s.write_all(b"hi\r\n").unwrap();
                    let mut buf = [0u8; 4];
                    s.read_exact(&mut buf).unwrap();
                    assert_eq!(&buf, b"hi\r\n");
                    served += 1;
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    thread::sleep(Duration::from_millis(seed % 20));
                }
                served
            })
        })
        .collect();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        kernel.run_one_timeslice().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let waiter = thread::spawn(move || {
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .sum::<usize>()
    });
    while !waiter.is_finished() {
        kernel.run_one_timeslice().unwrap();
    }
    let served = waiter.join().unwrap();
    // Let the last disconnections arrive, then stop the listener.
    let until = std::time::Instant::now() + Duration::from_millis(300);
    while std::time::Instant::now() < until {
        kernel.run_one_timeslice().unwrap();
    }
    ticking.set(false);
    kernel.post("ten", "shutdown", args![]).unwrap();
    kernel.run().unwrap();
    let c = counts.borrow();
    assert!(served >= 50, "every client was served ({served})");
    assert!(c.max_open <= 10, "{} live at once", c.max_open);
    assert_eq!(c.open, 0);
    assert_eq!(c.done, served);
}
