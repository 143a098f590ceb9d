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
