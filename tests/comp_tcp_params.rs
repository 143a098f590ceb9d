//! Server::TCP parameters not covered elsewhere: an explicit Port, Hostname,
//! Domain (Unix sockets), Stopped, a ClientFilter given as a constructor,
//! session options for the listener and the connections, and the
//! `got_an_error` HEAP member after a reset.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use rpoe::component::{ListenerHeap, ServerTcp};
use rpoe::filter::{Filter, Line};
use rpoe::wheel::SocketDomain;
use rpoe::{args, Kernel, ARG0};

type Log = Rc<RefCell<Vec<String>>>;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Port and Hostname: the server binds the given port on what "localhost"
/// resolves to; Stopped runs from the listener's `_stop`; listener and
/// connection options are set on their sessions.
#[test]
fn port_hostname_stopped_and_options() {
    let port = free_port();
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let (l1, l2) = (log.clone(), log.clone());
    let id = ServerTcp::new()
        .hostname("localhost")
        .port(port)
        .alias("named")
        .listener_option("trace", 0)
        .client_option("my_option", "set")
        .session_option("both", 1)
        .stopped(move |ctx, _| {
            assert_eq!(ctx.option_get("both"), Some(rpoe::Value::Int(1)));
            l1.borrow_mut().push("Stopped".into())
        })
        .client_input(move |ctx, args| {
            let opt = ctx.option_get("my_option");
            assert_eq!(ctx.option_get("both"), Some(rpoe::Value::Int(1)));
            l2.borrow_mut().push(format!(
                "input {} option {}",
                args.value(ARG0).unwrap().as_utf8().unwrap(),
                opt.and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ));
            ctx.yield_("shutdown", args![]);
            let _ = ctx.post("named", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let bound = kernel
        .with_heap(id, |h: &mut ListenerHeap<()>| h.local_addrs())
        .unwrap();
    assert_eq!(bound[0].port(), port);
    assert!(bound[0].ip().is_loopback());
    let t = thread::spawn(move || {
        let mut s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"x\r\n").unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
    });
    kernel.run().unwrap();
    t.join().unwrap();
    assert_eq!(*log.borrow(), ["input x option set", "Stopped"]);
}

/// Domain Unix: the Address is a path; `remote_ip` is "LOCAL", as POE; a
/// ClientFilter given as a constructor makes each connection's filter.
#[test]
fn unix_domain_with_a_filter_constructor() {
    let dir = std::env::temp_dir().join(format!("rpoe-unix-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let path = dir.to_string_lossy().into_owned();
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let l = log.clone();
    ServerTcp::new()
        .domain(SocketDomain::Unix)
        .address(path.clone())
        .alias("unix")
        .client_filter_with(|| {
            Box::new(Line::builder().literal("\n").build().unwrap()) as Box<dyn Filter>
        })
        .client_input(move |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            l.borrow_mut().push(format!(
                "{} {} {line}",
                ctx.heap.remote_ip, ctx.heap.remote_port
            ));
            ctx.heap.client.put(format!("got {line}"));
            ctx.yield_("shutdown", args![]);
            let _ = ctx.post("unix", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let p2 = path.clone();
    let t = thread::spawn(move || {
        let mut s = StdUnixStream::connect(&p2).unwrap();
        s.write_all(b"over a path\n").unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        all
    });
    kernel.run().unwrap();
    assert_eq!(t.join().unwrap(), "got over a path\n");
    assert_eq!(*log.borrow(), ["LOCAL 0 over a path"]);
    let _ = std::fs::remove_file(&path);
}

/// A client that resets the connection: ClientError sees ("read",
/// ECONNRESET), `got_an_error` is set, and the connection ends at once
/// (nothing is flushed to a dead peer).
#[test]
fn reset_sets_got_an_error() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let (l1, l2) = (log.clone(), log.clone());
    let id = ServerTcp::new()
        .address("127.0.0.1")
        .alias("reset")
        .client_filter(rpoe::filter::Stream::new())
        .client_input(|ctx, _| {
            ctx.heap.client.put(vec![1u8; 4 * 1024 * 1024]);
        })
        .client_error(move |_, args| {
            let op: &str = args.get(ARG0).unwrap();
            l1.borrow_mut().push(format!("ClientError {op}"));
        })
        .client_disconnected(move |ctx, _| {
            l2.borrow_mut().push(format!(
                "ClientDisconnected got_an_error={}",
                ctx.heap.got_an_error
            ));
            let _ = ctx.post("reset", "shutdown", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    let port = kernel
        .with_heap(id, |h: &mut ListenerHeap<()>| h.local_addrs()[0].port())
        .unwrap();
    let t = thread::spawn(move || {
        let mut s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"send me lots").unwrap();
        thread::sleep(Duration::from_millis(100));
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s); // RST
    });
    kernel.run().unwrap();
    t.join().unwrap();
    let log = log.borrow();
    assert!(log[0].starts_with("ClientError "), "{log:?}");
    assert_eq!(log.last().unwrap(), "ClientDisconnected got_an_error=true");
}
