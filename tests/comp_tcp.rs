//! POE::Component::Server::TCP over real sockets on 127.0.0.1 (SPEC §8 and
//! the comp_tcp scenario of §12.J): the callback server and the acceptor
//! server with a "quit" client, every Client* callback and its order,
//! ClientPreConnect refusing, filters, watermarks, states of every kind,
//! listener and connection `shutdown`, graceful shutdown with megabytes
//! buffered, the drain timeout, ClientShutdownOnError off, the HEAP members
//! and the parameters POE rejects.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream as StdTcpStream};
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use rpoe::component::{ClientHeap, ServerTcp, ServerTcpError};
use rpoe::filter::{Line, Stream};
use rpoe::{args, Args, Ctx, Kernel, Value, ARG0, ARG1};

type Log = Rc<RefCell<Vec<String>>>;

fn note(log: &Log, s: impl Into<String>) {
    log.borrow_mut().push(s.into());
}

/// The listener's port, from its heap, right after `create` (its `_start`
/// has run).
fn port_of<L: 'static>(kernel: &mut Kernel, listener: rpoe::SessionId) -> u16 {
    kernel
        .with_heap(listener, |h: &mut rpoe::component::ListenerHeap<L>| {
            h.local_addrs()[0].port()
        })
        .expect("the listener's heap")
}

fn connect(port: u16) -> StdTcpStream {
    let s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn read_line(r: &mut BufReader<StdTcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

/// The comp_tcp callback server: ClientPreConnect, ClientConnected,
/// ClientInput "quit" (put, then `HEAP{shutdown} = 1`), ClientFlushed,
/// ClientDisconnected, in that order; the client reads the echo, then EOF.
/// The listener gets `shutdown` through its alias and `run` returns.
#[test]
fn callback_server_quit() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let (l1, l2, l3, l4, l5, l6) = (
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
    );
    let listener = ServerTcp::new()
        .address("127.0.0.1")
        .alias("server")
        .client_filter(Line::builder().literal("\n").build().unwrap())
        .started(move |ctx, args| {
            assert_eq!(args.get::<&str>(ARG0).unwrap(), "listener arg");
            assert_eq!(ctx.heap.alias.as_deref(), Some("server"));
            assert_eq!(ctx.heap.concurrency, -1);
            assert_eq!(ctx.heap.connections, 0);
            assert_eq!(ctx.heap.listener.len(), 1);
            note(&l1, "Started");
        })
        .listener_args(args!["listener arg"])
        .client_args(args!["client arg"])
        .client_pre_connect(move |ctx, args| {
            let fd: i64 = args.get(ARG0).unwrap();
            assert!(fd > 2, "ARG0 is the socket's descriptor");
            assert_eq!(
                args.value(ARG1).unwrap().as_list().unwrap(),
                [Value::from("client arg")]
            );
            assert!(!ctx.heap.client.is_connected(), "no wheel yet");
            note(&l2, "ClientPreConnect");
            true
        })
        .client_connected(move |ctx, args| {
            assert_eq!(args.get::<&str>(ARG0).unwrap(), "client arg");
            assert_eq!(ctx.heap.remote_ip, "127.0.0.1");
            assert!(ctx.heap.remote_port > 0);
            assert_eq!(ctx.heap.remote_addr.unwrap().port(), ctx.heap.remote_port);
            assert!(ctx.heap.shutdown_on_error);
            assert_eq!(ctx.get_parent(ctx.session()), Some(ctx.heap.listener));
            note(&l3, "ClientConnected");
        })
        .client_input(move |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            assert_eq!(args.get::<i64>(ARG1).unwrap() as u64, ctx.heap.client.ID());
            note(&l4, format!("ClientInput {line}"));
            ctx.heap.client.put(format!("echo: {line}"));
            if line == "quit" {
                ctx.heap.shutdown = true;
            }
        })
        .client_flushed(move |_, _| note(&l5, "ClientFlushed"))
        .client_disconnected(move |ctx, _| {
            note(&l6, "ClientDisconnected");
            let _ = ctx.post("server", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, listener);
    let client = thread::spawn(move || {
        let mut s = connect(port);
        s.write_all(b"quit\n").unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        all
    });
    kernel.run().unwrap();
    assert_eq!(client.join().unwrap(), "echo: quit\n");
    assert_eq!(
        *log.borrow(),
        [
            "Started",
            "ClientPreConnect",
            "ClientConnected",
            "ClientInput quit",
            "ClientFlushed",
            "ClientDisconnected"
        ]
    );
    assert_eq!(kernel.session_count(), 0);
}

/// POE's `tcp_server_got_input`: `return if $heap->{shutdown}`. Lines that
/// arrive in the same read as the one that set `HEAP{shutdown}` never reach
/// ClientInput; the connection still ends at the next flush.
#[test]
fn input_after_shutdown_is_ignored() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let (l1, l2) = (log.clone(), log.clone());
    let listener = ServerTcp::new()
        .address("127.0.0.1")
        .alias("ignoring")
        .client_filter(Line::builder().literal("\n").build().unwrap())
        .client_input(move |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            note(&l1, format!("ClientInput {line}"));
            ctx.heap.client.put(format!("echo: {line}"));
            if line == "quit" {
                ctx.heap.shutdown = true;
            }
        })
        .client_disconnected(move |ctx, _| {
            note(&l2, "ClientDisconnected");
            let _ = ctx.post("ignoring", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, listener);
    let client = thread::spawn(move || {
        let mut s = connect(port);
        s.write_all(b"one\nquit\nafter\nmore\n").unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        all
    });
    kernel.run().unwrap();
    assert_eq!(client.join().unwrap(), "echo: one\necho: quit\n");
    assert_eq!(
        *log.borrow(),
        ["ClientInput one", "ClientInput quit", "ClientDisconnected"]
    );
}

/// The comp_tcp acceptor server: the Acceptor gets SocketFactory's
/// arguments in the listener session and runs the connection itself.
#[test]
fn acceptor_server() {
    use rpoe::wheel::ReadWrite;
    let mut kernel = Kernel::new().unwrap();
    let listener = ServerTcp::with_heaps(Vec::<ReadWrite>::new(), || ())
        .address("127.0.0.1")
        .acceptor(|ctx, mut args: Args| {
            let socket: mio::net::TcpStream = args.take_shared(ARG0).unwrap();
            assert_eq!(args.get::<&str>(ARG1).unwrap(), "127.0.0.1");
            assert_eq!(ctx.heap.connections, 1);
            let w = ReadWrite::new(socket)
                .input_event("got_input")
                .flushed_event("got_flush")
                .create(ctx)
                .unwrap();
            ctx.heap.user.push(w);
        })
        .listener_state("got_input", |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap.user[0].put(format!("echo: {line}"));
        })
        .listener_state("got_flush", |ctx, _| {
            ctx.heap.user.clear();
            let me = ctx.session();
            ctx.post(me, "disconnected", args![]).unwrap();
            ctx.post(me, "shutdown", args![]).unwrap();
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<Vec<ReadWrite>>(&mut kernel, listener);
    let client = thread::spawn(move || {
        let mut s = connect(port);
        s.write_all(b"quit\r\n").unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        all
    });
    kernel.run().unwrap();
    assert_eq!(client.join().unwrap(), "echo: quit\r\n");
}

/// ClientPreConnect returning false refuses the connection: it is closed,
/// ClientConnected never runs, and the connection count is released.
#[test]
fn pre_connect_refuses() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let l = log.clone();
    let l2 = log.clone();
    let listener = ServerTcp::new()
        .address("127.0.0.1")
        .alias("refuser")
        .concurrency(1)
        .client_pre_connect(|_, _| false)
        .client_connected(move |_, _| note(&l, "connected"))
        .client_input(|_, _| {})
        .inline_state("_stop", move |ctx, _| {
            note(&l2, "connection _stop");
            // Events posted from _stop are dropped with the session (as in
            // POE); a call goes through.
            ctx.kernel.call("refuser", "check", args![]).unwrap();
        })
        .listener_state("check", |ctx, _| {
            assert_eq!(
                ctx.heap.connections, 0,
                "the refused connection is not counted"
            );
            let me = ctx.session();
            ctx.post(me, "shutdown", args![]).unwrap();
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, listener);
    let client = thread::spawn(move || {
        let mut s = connect(port);
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap_or(0);
        buf
    });
    kernel.run().unwrap();
    assert!(client.join().unwrap().is_empty(), "closed without a word");
    assert_eq!(*log.borrow(), ["connection _stop"]);
}

#[derive(Default)]
struct Big {
    sent: usize,
}

/// Graceful shutdown with megabytes buffered: the client receives every
/// byte, then EOF; ClientDisconnected comes after the flush.
#[test]
fn graceful_shutdown_sends_everything() {
    const MB: usize = 1024 * 1024;
    let mut kernel = Kernel::new().unwrap();
    let listener = ServerTcp::with_heaps((), Big::default)
        .address("127.0.0.1")
        .alias("big")
        .client_filter(Stream::new())
        .client_connected(|ctx, _| {
            for i in 0..8 {
                ctx.heap.client.put(vec![b'a' + i as u8; MB]);
            }
            ctx.heap.user.sent = 8 * MB;
            assert!(ctx.heap.client.get_driver_out_octets() > 0);
            ctx.yield_("shutdown", args![]);
        })
        .client_input(|_, _| {})
        .client_disconnected(|ctx, _| {
            assert_eq!(ctx.heap.client.get_driver_out_octets(), 0, "all flushed");
            let _ = ctx.post("big", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, listener);
    let client = thread::spawn(move || {
        let mut s = connect(port);
        thread::sleep(Duration::from_millis(100)); // a slow start
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        all
    });
    kernel.run().unwrap();
    let all = client.join().unwrap();
    assert_eq!(all.len(), 8 * MB);
    for (i, chunk) in all.chunks(MB).enumerate() {
        assert!(chunk.iter().all(|b| *b == b'a' + i as u8));
    }
}

/// A client that never reads cannot hold a shutting-down connection open
/// forever: after the drain timeout the connection closes, unsent bytes
/// dropped, with ClientDisconnected.
#[test]
fn drain_timeout_closes_a_peer_that_never_reads() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let l = log.clone();
    let listener = ServerTcp::new()
        .address("127.0.0.1")
        .alias("stuck")
        .drain_timeout(Some(0.3))
        .client_filter(Stream::new())
        .client_connected(|ctx, _| {
            ctx.heap.client.put(vec![0u8; 32 * 1024 * 1024]);
            ctx.yield_("shutdown", args![]);
        })
        .client_input(|_, _| {})
        .client_disconnected(move |ctx, _| {
            note(
                &l,
                format!(
                    "disconnected with {} unsent",
                    ctx.heap.client.get_driver_out_octets() > 0
                ),
            );
            let _ = ctx.post("stuck", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, listener);
    let s = connect(port); // never reads
    let started = std::time::Instant::now();
    kernel.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(*log.borrow(), ["disconnected with true unsent"]);
    drop(s);
}

/// The listener's `shutdown` stops accepting and removes the alias, and
/// lets existing connections finish: the connected client still gets its
/// answer after the listener shut down.
#[test]
fn listener_shutdown_lets_clients_finish() {
    let mut kernel = Kernel::new().unwrap();
    let listener = ServerTcp::new()
        .address("127.0.0.1")
        .alias("closing")
        .client_connected(|ctx, _| {
            ctx.post("closing", "shutdown", args![]).unwrap();
        })
        .client_input(|ctx, args| {
            assert!(
                ctx.alias_resolve("closing").is_none(),
                "the alias went with the listener's shutdown"
            );
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap.client.put(format!("still here: {line}"));
            ctx.yield_("shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, listener);
    let client = thread::spawn(move || {
        let s = connect(port);
        thread::sleep(Duration::from_millis(200));
        // A second connection is refused now.
        assert!(StdTcpStream::connect(("127.0.0.1", port)).is_err());
        let mut w = s.try_clone().unwrap();
        w.write_all(b"hello\r\n").unwrap();
        let mut r = BufReader::new(s);
        let line = read_line(&mut r);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        (line, rest)
    });
    kernel.run().unwrap();
    let (line, rest) = client.join().unwrap();
    assert_eq!(line, "still here: hello\r\n");
    assert_eq!(rest, "", "then EOF");
}

/// With ClientShutdownOnError off, end of file leaves the connection open
/// until the program yields `shutdown`; ClientError sees ("read", 0).
#[test]
fn shutdown_on_error_off() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let (l1, l2) = (log.clone(), log.clone());
    let listener = ServerTcp::new()
        .address("127.0.0.1")
        .alias("s")
        .client_shutdown_on_error(false)
        .client_input(|_, _| {})
        .client_error(move |ctx, args| {
            let op: &str = args.get(ARG0).unwrap();
            let n: i64 = args.get(ARG1).unwrap();
            note(&l1, format!("ClientError {op} {n}"));
            assert!(!ctx.heap.shutdown_on_error);
            ctx.delay("later", 0.1, args![]);
        })
        .inline_state("later", move |ctx, _| {
            note(
                &l2,
                format!("still connected: {}", ctx.heap.client.is_connected()),
            );
            ctx.yield_("shutdown", args![]);
            let _ = ctx.post("s", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, listener);
    let s = connect(port);
    s.shutdown(Shutdown::Both).unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *log.borrow(),
        ["ClientError read 0", "still connected: true"]
    );
}

/// ClientInputFilter/ClientOutputFilter, a filter given as a constructor,
/// HighMark/LowMark with ClientHigh/ClientLow, ObjectStates, PackageStates,
/// client options, and a `_stop` in InlineStates that runs after the
/// component's own, so the listener's count stays right.
#[test]
fn filters_marks_and_states() {
    fn object_ping(ctx: &mut Ctx<ClientHeap<Vec<String>>>, _: Args) {
        ctx.heap.user.push("object_state".into());
    }
    fn package_ping(ctx: &mut Ctx<ClientHeap<Vec<String>>>, _: Args) {
        ctx.heap.user.push("package_state".into());
    }
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let (l1, l2) = (log.clone(), log.clone());
    let listener = ServerTcp::with_heaps((), Vec::<String>::new)
        .address("127.0.0.1")
        .alias("marks")
        .client_input_filter(Line::builder().literal("\n").build().unwrap())
        .client_output_filter(Stream::new())
        .high_mark(100_000)
        .low_mark(10)
        .client_high(|ctx, _| ctx.heap.user.push("ClientHigh".into()))
        .client_low(|ctx, _| ctx.heap.user.push("ClientLow".into()))
        .object_state("object_ping", object_ping)
        .package_state("package_ping", package_ping)
        .client_option("default", 1)
        .client_connected(|ctx, _| {
            ctx.yield_("object_ping", args![]);
            ctx.yield_("package_ping", args![]);
        })
        .client_input(|ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            assert_eq!(line, "give me a lot");
            let high = ctx.heap.client.put(vec![b'z'; 1_000_000]);
            assert!(high, "put reports the high mark");
            ctx.heap.client.put(b"\nend\n".to_vec());
            ctx.yield_("shutdown", args![]);
        })
        .client_disconnected(move |ctx, _| {
            l1.borrow_mut().extend(ctx.heap.user.iter().cloned());
        })
        .inline_state("_stop", move |ctx, _| {
            note(&l2, "user _stop");
            ctx.kernel.call("marks", "count", args![]).unwrap();
            ctx.kernel.call("marks", "shutdown", args![]).unwrap();
        })
        .listener_state("count", |ctx, _| {
            assert_eq!(ctx.heap.connections, 0, "the count survived a user _stop");
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, listener);
    let client = thread::spawn(move || {
        let mut s = connect(port);
        s.write_all(b"give me a lot\n").unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        all.len()
    });
    kernel.run().unwrap();
    assert_eq!(
        client.join().unwrap(),
        1_000_000 + 5,
        "raw output: Stream filter"
    );
    assert_eq!(
        *log.borrow(),
        [
            "object_state",
            "package_state",
            "ClientHigh",
            "ClientLow",
            "user _stop"
        ]
    );
}

/// Parameter combinations POE croaks on are errors from `create`, and
/// nothing is started.
#[test]
fn rejected_configurations() {
    let mut kernel = Kernel::new().unwrap();
    let err = |r: Result<rpoe::SessionId, ServerTcpError>| match r {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    };
    let e = err(ServerTcp::new()
        .client_input(|_, _| {})
        .acceptor(|_, _| {})
        .create(&mut kernel));
    assert!(e.contains("exclusive"), "{e}");
    let e = err(ServerTcp::new().create(&mut kernel));
    assert!(e.contains("ClientInput is required"), "{e}");
    let e = err(ServerTcp::new()
        .acceptor(|_, _| {})
        .client_connected(|_, _| {})
        .create(&mut kernel));
    assert!(e.contains("need ClientInput"), "{e}");
    let e = err(ServerTcp::new()
        .client_input(|_, _| {})
        .client_input_filter(Line::new())
        .create(&mut kernel));
    assert!(e.contains("go together"), "{e}");
    let e = err(ServerTcp::new()
        .client_input(|_, _| {})
        .high_mark(10)
        .low_mark(5)
        .create(&mut kernel));
    assert!(e.contains("ClientHigh"), "{e}");
    let e = err(ServerTcp::new()
        .client_input(|_, _| {})
        .inline_state("tcp_server_got_input", |_, _| {})
        .create(&mut kernel));
    assert!(e.contains("component's own"), "{e}");
    assert_eq!(kernel.session_count(), 0);
}

/// A port in use: the Error callback gets ("bind", 98, ...) and the
/// address; without one, the default logs and closes that listener.
#[test]
fn bind_error_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let l = log.clone();
    ServerTcp::new()
        .address("127.0.0.1")
        .port(port)
        .client_input(|_, _| {})
        .error(move |ctx, args| {
            let op: &str = args.get(ARG0).unwrap();
            let n: i64 = args.get(ARG1).unwrap();
            let addr: &str = args.get(4).unwrap();
            note(&l, format!("{op} {n} {addr}"));
            ctx.heap.listener.clear();
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), [format!("bind 98 127.0.0.1:{port}")]);
}

/// A ClientInput that fails (returns an error) fails that line only, as a
/// POE state that dies under CATCH_EXCEPTIONS: the error is logged, the
/// connection stays up and later lines are handled as before.
#[test]
fn a_failing_client_input_fails_only_its_line() {
    let mut kernel = Kernel::new().unwrap();
    let listener = ServerTcp::new()
        .address("127.0.0.1")
        .alias("failing")
        .client_input(|ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            if line == "bad" {
                return Err(rpoe::Error::InvalidArgument("a bad line"));
            }
            if line == "quit" {
                ctx.post("failing", "shutdown", args![]).unwrap();
                ctx.yield_("shutdown", args![]);
            }
            ctx.heap.client.put(format!("ok: {line}"));
            Ok(())
        })
        .create(&mut kernel)
        .unwrap();
    let port = port_of::<()>(&mut kernel, listener);
    let client = thread::spawn(move || {
        let s = connect(port);
        let mut w = s.try_clone().unwrap();
        w.write_all(b"one\r\nbad\r\ntwo\r\nquit\r\n").unwrap();
        let mut r = BufReader::new(s);
        let lines: Vec<String> = (0..3).map(|_| read_line(&mut r)).collect();
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        (lines, rest)
    });
    kernel.run().unwrap();
    let (lines, rest) = client.join().unwrap();
    assert_eq!(lines, ["ok: one\r\n", "ok: two\r\n", "ok: quit\r\n"]);
    assert_eq!(rest, "", "then EOF after the shutdown");
}
