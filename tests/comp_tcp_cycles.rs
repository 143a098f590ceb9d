//! 10,000 connect-echo-disconnect cycles against Server::TCP, then a
//! listener shutdown (reliability.md item 15): `run` returns, and no
//! session or descriptor is left behind. Its own test binary, so that no
//! other test's sockets blur the descriptor count.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream as StdTcpStream;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use rpoe::component::{ListenerHeap, ServerTcp};
use rpoe::{args, Kernel, ARG0};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// 10,000 connect-echo-disconnect cycles, then the listener's shutdown:
/// `run` returns, no session is left and no descriptor leaked.
#[test]
fn ten_thousand_cycles_leave_nothing_behind() {
    const CYCLES: usize = 10_000;
    let fds_before = open_fds();
    let mut kernel = Kernel::new().unwrap();
    let served = Rc::new(RefCell::new(0usize));
    let s2 = served.clone();
    let id = ServerTcp::new()
        .address("127.0.0.1")
        .alias("cycles")
        .client_input(|ctx, args| {
            ctx.heap
                .client
                .put(args.value(ARG0).cloned().unwrap_or_default());
        })
        .client_disconnected(move |ctx, _| {
            *s2.borrow_mut() += 1;
            if *s2.borrow() == CYCLES {
                let _ = ctx.post("cycles", "shutdown", args![]);
            }
        })
        .create(&mut kernel)
        .unwrap();
    let port = kernel
        .with_heap(id, |h: &mut ListenerHeap<()>| h.local_addrs()[0].port())
        .unwrap();
    let client = thread::spawn(move || {
        for i in 0..CYCLES {
            let s = StdTcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut w = s.try_clone().unwrap();
            w.write_all(format!("{i}\r\n").as_bytes()).unwrap();
            let mut r = BufReader::new(s);
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            assert_eq!(l, format!("{i}\r\n"));
        }
    });
    kernel.run().unwrap();
    client.join().unwrap();
    assert_eq!(*served.borrow(), CYCLES);
    assert_eq!(kernel.session_count(), 0);
    drop(kernel);
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
}
