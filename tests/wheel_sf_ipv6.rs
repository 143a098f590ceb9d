//! POE::Wheel::SocketFactory over IPv6 (SPEC §12.I wheel_sf_ipv6): listen on
//! `::1`, connect with `SocketDomain::Inet6`, exchange a line. Skipped, with
//! a message, where the machine has no IPv6 loopback.

use mio::net::TcpStream;
use rpoe::wheel::{ReadWrite, SocketDomain, SocketFactory};
use rpoe::{Args, Kernel, Session, ARG0, ARG1};

fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[derive(Default)]
struct Heap {
    listener: Option<SocketFactory>,
    connector: Option<SocketFactory>,
    server: Option<ReadWrite>,
    client: Option<ReadWrite>,
    got: Vec<String>,
}

#[test]
fn line_over_ipv6_loopback() {
    if !ipv6_available() {
        eprintln!("skipped: this machine has no IPv6 loopback (::1)");
        return;
    }
    let mut kernel = Kernel::new().unwrap();
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let got2 = got.clone();
    Session::new(Heap::default())
        .inline_state("_start", |ctx, _| {
            let l = SocketFactory::new()
                .socket_domain(SocketDomain::Inet6)
                .bind_address("::1")
                .success_event("accepted")
                .failure_event("failed")
                .create(ctx)
                .unwrap();
            let port = l.getsockname().expect("bound").port();
            assert!(l.getsockname().unwrap().is_ipv6());
            ctx.heap.listener = Some(l);
            let c = SocketFactory::new()
                .socket_domain(SocketDomain::Inet6)
                .remote_address("::1")
                .remote_port(port)
                .success_event("connected")
                .failure_event("failed")
                .create(ctx)
                .unwrap();
            ctx.heap.connector = Some(c);
        })
        .inline_state("accepted", |ctx, mut args: Args| {
            let s: TcpStream = args.take_shared(ARG0).unwrap();
            assert_eq!(args.get::<&str>(ARG1).unwrap(), "::1");
            ctx.heap.listener = None;
            let w = ReadWrite::new(s)
                .input_event("server_in")
                .error_event("server_err")
                .create(ctx)
                .unwrap();
            ctx.heap.server = Some(w);
        })
        .inline_state("connected", |ctx, mut args: Args| {
            let s: TcpStream = args.take_shared(ARG0).unwrap();
            assert_eq!(args.get::<&str>(ARG1).unwrap(), "::1");
            ctx.heap.connector = None;
            let w = ReadWrite::new(s)
                .input_event("client_in")
                .error_event("client_err")
                .create(ctx)
                .unwrap();
            w.put("hello over v6");
            ctx.heap.client = Some(w);
        })
        .inline_state("server_in", |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap
                .server
                .as_ref()
                .unwrap()
                .put(format!("echo: {line}"));
        })
        .inline_state("client_in", move |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            got2.borrow_mut().push(line.clone());
            ctx.heap.got.push(line);
            ctx.heap.client = None;
        })
        .inline_state("server_err", |ctx, args| {
            assert_eq!(args.get::<&str>(ARG0).unwrap(), "read");
            ctx.heap.server = None;
        })
        .inline_state("client_err", |_, a| -> () { panic!("{a:?}") })
        .inline_state("failed", |_, a| -> () { panic!("{a:?}") })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*got.borrow(), ["echo: hello over v6"]);
}
