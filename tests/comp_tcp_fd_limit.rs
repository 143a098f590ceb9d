//! Server::TCP out of file descriptors (reliability.md item 1): while the
//! process is at its descriptor limit the server keeps serving the clients
//! it has, uses no CPU (no spinning on EMFILE), and accepts the waiting
//! clients once descriptors free up. Its own test binary: it lowers the
//! process's RLIMIT_NOFILE.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use rpoe::component::{ListenerHeap, ServerTcp};
use rpoe::{args, Kernel, ARG0};

fn lowest_free_fd() -> u64 {
    let probe = File::open("/dev/null").unwrap();
    probe.as_raw_fd() as u64
}

fn line(r: &mut BufReader<StdTcpStream>) -> std::io::Result<String> {
    let mut l = String::new();
    r.read_line(&mut l)?;
    Ok(l)
}

#[test]
fn at_the_descriptor_limit_existing_clients_are_served_and_accepting_resumes() {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let mut kernel = Kernel::new().unwrap();
    let done = Rc::new(RefCell::new(0));
    let d2 = done.clone();
    let id = ServerTcp::new()
        .address("127.0.0.1")
        .alias("limited")
        .client_connected(|ctx, _| {
            ctx.heap.client.put("hello");
        })
        .client_input(move |ctx, args| {
            let l = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap.client.put(format!("echo: {l}"));
            if l == "bye" {
                ctx.yield_("shutdown", args![]);
                *d2.borrow_mut() += 1;
                if *d2.borrow() == 4 {
                    let _ = ctx.post("limited", "shutdown", args![]);
                }
            }
        })
        .create(&mut kernel)
        .unwrap();
    let port = kernel
        .with_heap(id, |h: &mut ListenerHeap<()>| h.local_addrs()[0].port())
        .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let starving = Arc::new(AtomicBool::new(false));
    let starving2 = starving.clone();

    let clients = thread::spawn(move || {
        let c1 = StdTcpStream::connect(addr).unwrap();
        c1.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w1 = c1.try_clone().unwrap();
        let mut r1 = BufReader::new(c1);
        assert_eq!(line(&mut r1).unwrap(), "hello\r\n");
        // Sockets for three more clients, and spare descriptors to free
        // later, are made while descriptors are available.
        let later: Vec<socket2::Socket> = (0..3)
            .map(|_| {
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap()
            })
            .collect();
        let padding: Vec<File> = (0..8).map(|_| File::open("/dev/null").unwrap()).collect();
        setrlimit(Resource::RLIMIT_NOFILE, lowest_free_fd(), hard).unwrap();
        starving2.store(true, Ordering::SeqCst);
        for s in &later {
            s.connect(&addr.into()).unwrap(); // waits in the backlog
        }
        let later: Vec<StdTcpStream> = later.into_iter().map(Into::into).collect();
        // The existing client is still served.
        thread::sleep(Duration::from_millis(300));
        w1.write_all(b"still there?\r\n").unwrap();
        assert_eq!(line(&mut r1).unwrap(), "echo: still there?\r\n");
        // The waiting ones were not accepted.
        for s in &later {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut buf = [0u8; 16];
            let r = std::io::Read::read(&mut &*s, &mut buf);
            assert!(
                matches!(&r, Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut),
                "accepted while out of descriptors: {r:?}"
            );
        }
        starving2.store(false, Ordering::SeqCst);
        drop(padding); // descriptors free up
        for s in later {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            assert_eq!(
                line(&mut r).unwrap(),
                "hello\r\n",
                "accepted once descriptors freed"
            );
            w.write_all(b"bye\r\n").unwrap();
            assert_eq!(line(&mut r).unwrap(), "echo: bye\r\n");
        }
        w1.write_all(b"bye\r\n").unwrap();
        assert_eq!(line(&mut r1).unwrap(), "echo: bye\r\n");
    });

    let mut starved_slices = 0u64;
    while kernel.run_one_timeslice().unwrap() {
        if starving.load(Ordering::SeqCst) {
            starved_slices += 1;
        }
    }
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    clients.join().unwrap();
    assert_eq!(*done.borrow(), 4);
    // About 0.35 s at the limit, retrying every 0.1 s, plus one echo: a
    // handful of timeslices, not a spin.
    assert!(
        starved_slices < 100,
        "{starved_slices} timeslices at the limit"
    );
}
