//! POE::Wheel::SocketFactory over TCP on 127.0.0.1 (SPEC §6 and the
//! wheel_sf_tcp scenario of §12.I): listen on port 0, accept, connect,
//! ReadWrite on both ends, rot13 echo, octet and message counts, and the
//! failure events (refused connect, address in use, unresolvable name).

use std::cell::RefCell;
use std::rc::Rc;

use mio::net::TcpStream;
use rpoe::filter::Line;
use rpoe::wheel::{ReadWrite, SocketFactory};
use rpoe::{args, Args, Ctx, Kernel, Session, ARG0, ARG1, ARG2, ARG3};

fn rot13(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='m' | 'A'..='M' => (c as u8 + 13) as char,
            'n'..='z' | 'N'..='Z' => (c as u8 - 13) as char,
            _ => c,
        })
        .collect()
}

#[derive(Default)]
struct Log {
    lines: Vec<String>,
}

type Shared = Rc<RefCell<Log>>;

fn note(log: &Shared, s: impl Into<String>) {
    log.borrow_mut().lines.push(s.into());
}

#[derive(Default)]
struct Server {
    listener: Option<SocketFactory>,
    client: Option<ReadWrite>,
    puts: u32,
    flushes: u32,
    log: Shared,
    port: Option<u16>,
}

#[derive(Default)]
struct Client {
    wheel: Option<ReadWrite>,
    connector: Option<SocketFactory>,
    puts: u32,
    flushes: u32,
    log: Shared,
}

/// The wheel_sf_tcp scenario: a client puts '1: this is a test' (19 octets
/// buffered with CRLF, one message), the server (a 10-octet BlockSize, so
/// the line arrives in pieces) answers with its rot13, the client re-sends
/// it decoded as '2: ...', then hangs up; the server sees EOF (errnum 0).
/// The listener is dropped in the accept handler, so exactly one
/// connection is made; puts equal flushes on both sides.
#[test]
fn rot13_echo_over_tcp() {
    let mut kernel = Kernel::new().unwrap();
    let log: Shared = Rc::default();
    let port = Rc::new(RefCell::new(0u16));

    let port2 = port.clone();
    Session::new(Server {
        log: log.clone(),
        ..Server::default()
    })
    .inline_state("_start", move |ctx, _| {
        let sf = SocketFactory::new()
            .bind_address("127.0.0.1")
            .bind_port(0)
            .reuse(true)
            .success_event("accepted")
            .failure_event("sf_failed")
            .create(ctx)
            .unwrap();
        assert!(sf.is_listening());
        let p = sf.getsockname().unwrap().port();
        assert_ne!(p, 0, "port 0 picks a free port");
        *port2.borrow_mut() = p;
        ctx.heap.port = Some(p);
        ctx.heap.listener = Some(sf);
    })
    .inline_state("accepted", |ctx, mut args: Args| {
        let socket: TcpStream = args.take_shared(ARG0).unwrap();
        let addr: &str = args.get(ARG1).unwrap();
        let peer_port: i64 = args.get(ARG2).unwrap();
        assert_eq!(addr, "127.0.0.1");
        assert!(peer_port > 0);
        note(&ctx.heap.log, "server accepted");
        ctx.heap.listener = None; // exactly one connection
        let w = ReadWrite::new(socket)
            .block_size(10)
            .input_event("server_input")
            .error_event("server_error")
            .flushed_event("server_flushed")
            .create(ctx)
            .unwrap();
        ctx.heap.client = Some(w);
    })
    .inline_state("server_input", |ctx, args| {
        let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
        note(&ctx.heap.log, format!("server got {line}"));
        ctx.heap.puts += 1;
        ctx.heap.client.as_ref().unwrap().put(rot13(&line));
    })
    .inline_state("server_flushed", |ctx, _| ctx.heap.flushes += 1)
    .inline_state("server_error", |ctx, args| {
        let op: &str = args.get(ARG0).unwrap();
        let errnum: i64 = args.get(ARG1).unwrap();
        note(&ctx.heap.log, format!("server error {op} {errnum}"));
        ctx.heap.client = None;
        assert_eq!(ctx.heap.puts, ctx.heap.flushes, "server: puts == flushes");
    })
    .inline_state("sf_failed", |_, args| -> () {
        panic!("listen failed: {:?}", args)
    })
    .create(&mut kernel)
    .unwrap();

    let port = *port.borrow();
    Session::new(Client {
        log: log.clone(),
        ..Client::default()
    })
    .args(args![i64::from(port)])
    .inline_state("_start", |ctx, args| {
        let port: i64 = args.get(ARG0).unwrap();
        let sf = SocketFactory::new()
            .remote_address("127.0.0.1")
            .remote_port(port as u16)
            .success_event("connected")
            .failure_event("connect_failed")
            .create(ctx)
            .unwrap();
        assert!(!sf.is_listening());
        ctx.heap.connector = Some(sf);
    })
    .inline_state("connected", |ctx: &mut Ctx<Client>, mut args: Args| {
        let socket: TcpStream = args.take_shared(ARG0).unwrap();
        assert_eq!(args.get::<&str>(ARG1).unwrap(), "127.0.0.1");
        let wheel_id: i64 = args.get(ARG3).unwrap();
        assert_eq!(wheel_id as u64, ctx.heap.connector.as_ref().unwrap().ID());
        ctx.heap.connector = None;
        let w = ReadWrite::new(socket)
            .filter(Line::new())
            .input_event("client_input")
            .error_event("client_error")
            .flushed_event("client_flushed")
            .create(ctx)
            .unwrap();
        w.put("1: this is a test");
        assert_eq!(w.get_driver_out_octets(), 19, "CRLF appended");
        assert_eq!(w.get_driver_out_messages(), 1);
        ctx.heap.puts += 1;
        ctx.heap.wheel = Some(w);
    })
    .inline_state("client_input", |ctx, args| {
        let line = rot13(args.value(ARG0).unwrap().as_utf8().unwrap());
        note(&ctx.heap.log, format!("client got {line}"));
        if let Some(rest) = line.strip_prefix("1: ") {
            ctx.heap.puts += 1;
            ctx.heap.wheel.as_ref().unwrap().put(format!("2: {rest}"));
        } else {
            assert_eq!(line, "2: this is a test");
            ctx.yield_("hang_up", args![]);
        }
    })
    .inline_state("hang_up", |ctx, _| {
        assert_eq!(ctx.heap.puts, ctx.heap.flushes, "client: puts == flushes");
        ctx.heap.wheel = None;
    })
    .inline_state("client_flushed", |ctx, _| ctx.heap.flushes += 1)
    .inline_state("client_error", |_, args| -> () {
        panic!("client error {:?}", args)
    })
    .inline_state("connect_failed", |_, args| -> () {
        panic!("connect failed {:?}", args)
    })
    .create(&mut kernel)
    .unwrap();

    kernel.run().unwrap();
    assert_eq!(
        log.borrow().lines,
        [
            "server accepted",
            "server got 1: this is a test",
            "client got 1: this is a test",
            "server got 2: this is a test",
            "client got 2: this is a test",
            "server error read 0",
        ]
    );
}

/// What a failure event carried.
type Failure = Rc<RefCell<Vec<(String, i64, String)>>>;

fn failure_session(kernel: &mut Kernel, failures: &Failure, build: fn(&mut Ctx<Failure>)) {
    Session::new(failures.clone())
        .inline_state("_start", move |ctx, _| build(ctx))
        .inline_state("ok", |_, args| -> () {
            panic!("unexpected success {args:?}")
        })
        .inline_state("failed", |ctx, args| {
            let op: &str = args.get(ARG0).unwrap();
            let errnum: i64 = args.get(ARG1).unwrap();
            let errstr: &str = args.get(ARG2).unwrap();
            let _id: i64 = args.get(ARG3).unwrap();
            ctx.heap
                .borrow_mut()
                .push((op.to_owned(), errnum, errstr.to_owned()));
        })
        .create(kernel)
        .unwrap();
}

thread_local! {
    static KEEP: RefCell<Vec<SocketFactory>> = const { RefCell::new(Vec::new()) };
}

/// Connecting to a port nobody listens on: FailureEvent ("connect", 111,
/// "Connection refused", id), as POE.
#[test]
fn refused_connect_is_a_failure_event() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port();
    drop(unused);
    let mut kernel = Kernel::new().unwrap();
    let failures: Failure = Rc::default();
    thread_local!(static PORT: RefCell<u16> = const { RefCell::new(0) });
    PORT.with(|p| *p.borrow_mut() = port);
    failure_session(&mut kernel, &failures, |ctx| {
        let port = PORT.with(|p| *p.borrow());
        let sf = SocketFactory::new()
            .remote_address("127.0.0.1")
            .remote_port(port)
            .success_event("ok")
            .failure_event("failed")
            .create(ctx)
            .unwrap();
        KEEP.with(|k| k.borrow_mut().push(sf));
    });
    kernel.run().unwrap();
    let f = failures.borrow();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "connect");
    assert_eq!(f[0].1, 111);
    assert_eq!(f[0].2, "Connection refused");
    KEEP.with(|k| k.borrow_mut().clear());
}

/// Binding a port in use: FailureEvent ("bind", 98, "Address already in
/// use", id), yielded to the creating session, as POE.
#[test]
fn bind_in_use_is_a_yielded_failure_event() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    thread_local!(static PORT: RefCell<u16> = const { RefCell::new(0) });
    PORT.with(|p| *p.borrow_mut() = port);
    let mut kernel = Kernel::new().unwrap();
    let failures: Failure = Rc::default();
    failure_session(&mut kernel, &failures, |ctx| {
        let port = PORT.with(|p| *p.borrow());
        let sf = SocketFactory::new()
            .bind_address("127.0.0.1")
            .bind_port(port)
            .success_event("ok")
            .failure_event("failed")
            .create(ctx)
            .unwrap();
        assert!(!sf.is_listening());
        assert!(ctx.heap.borrow().is_empty(), "yielded, not called");
    });
    kernel.run().unwrap();
    let f = failures.borrow();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].0.as_str(), f[0].1), ("bind", 98));
    assert_eq!(f[0].2, "Address already in use");
    drop(taken);
}

/// A host name that does not resolve: FailureEvent "getaddrinfo".
#[test]
fn unresolvable_name_is_a_failure_event() {
    let mut kernel = Kernel::new().unwrap();
    let failures: Failure = Rc::default();
    failure_session(&mut kernel, &failures, |ctx| {
        let _ = SocketFactory::new()
            .remote_address("no-such-host.invalid")
            .remote_port(80)
            .success_event("ok")
            .failure_event("failed")
            .create(ctx)
            .unwrap();
    });
    kernel.run().unwrap();
    let f = failures.borrow();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0, "getaddrinfo");
}

/// POE croaks without SuccessEvent/FailureEvent, and for RemoteAddress
/// without RemotePort: rpoe returns a WheelError from create.
#[test]
fn constructor_errors() {
    let mut kernel = Kernel::new().unwrap();
    Session::new(())
        .inline_state("_start", |ctx, _| {
            assert!(SocketFactory::new().failure_event("f").create(ctx).is_err());
            assert!(SocketFactory::new().success_event("s").create(ctx).is_err());
            assert!(SocketFactory::new()
                .remote_address("127.0.0.1")
                .success_event("s")
                .failure_event("f")
                .create(ctx)
                .is_err());
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
}

#[derive(Default)]
struct Pauser {
    sf: Option<SocketFactory>,
    accepted: u32,
    port: u16,
    client: Option<std::net::TcpStream>,
}

/// pause_accept leaves connections in the backlog; resume_accept takes
/// them. Dropping the wheel closes the listening socket and lets the
/// session end.
#[test]
fn pause_and_resume_accept() {
    let mut kernel = Kernel::new().unwrap();
    Session::new(Pauser::default())
        .inline_state("_start", |ctx, _| {
            let sf = SocketFactory::new()
                .bind_address("127.0.0.1")
                .success_event("accepted")
                .failure_event("failed")
                .create(ctx)
                .unwrap();
            ctx.heap.port = sf.getsockname().unwrap().port();
            sf.pause_accept();
            assert!(sf.accept_paused());
            ctx.heap.sf = Some(sf);
            ctx.yield_("connect", args![]);
        })
        .inline_state("connect", |ctx, _| {
            let c = std::net::TcpStream::connect(("127.0.0.1", ctx.heap.port)).unwrap();
            ctx.heap.client = Some(c);
            ctx.delay("check", 0.1, args![]);
        })
        .inline_state("check", |ctx, _| {
            assert_eq!(ctx.heap.accepted, 0, "paused: nothing accepted");
            ctx.heap.sf.as_ref().unwrap().resume_accept();
        })
        .inline_state("accepted", |ctx, _| {
            ctx.heap.accepted += 1;
            ctx.heap.sf = None;
        })
        .inline_state("failed", |_, args| -> () { panic!("{args:?}") })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(kernel.session_count(), 0);
}

/// A connect that cannot complete gives FailureEvent ("connect",
/// ETIMEDOUT) after the wheel's `connect_timeout`: the target listens with
/// a full backlog, so the handshake is never answered.
#[test]
fn connect_timeout_is_a_failure_event() {
    let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    l.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    // Fill the backlog (never accepted).
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    thread_local!(static PORT: RefCell<u16> = const { RefCell::new(0) });
    PORT.with(|p| *p.borrow_mut() = addr.port());
    let mut kernel = Kernel::new().unwrap();
    let failures: Failure = Rc::default();
    failure_session(&mut kernel, &failures, |ctx| {
        let sf = SocketFactory::new()
            .remote_address("127.0.0.1")
            .remote_port(PORT.with(|p| *p.borrow()))
            .connect_timeout(0.3)
            .success_event("ok")
            .failure_event("failed")
            .create(ctx)
            .unwrap();
        KEEP.with(|k| k.borrow_mut().push(sf));
    });
    let started = std::time::Instant::now();
    kernel.run().unwrap();
    let took = started.elapsed().as_secs_f64();
    let f = failures.borrow();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "connect");
    assert_eq!(f[0].1, 110, "ETIMEDOUT: {f:?}");
    assert!((0.25..3.0).contains(&took), "took {took}s");
    KEEP.with(|k| k.borrow_mut().clear());
    drop(fillers);
}
