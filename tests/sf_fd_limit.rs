//! Running out of file descriptors while accepting (reliability.md): the
//! listener pauses and retries from a timer instead of spinning on EMFILE,
//! takes no CPU meanwhile, and accepts the waiting connections once
//! descriptors free up. Its own test binary: it lowers the process's
//! RLIMIT_NOFILE.

use std::fs::File;
use std::net::TcpStream as StdTcpStream;

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use rpoe::wheel::SocketFactory;
use rpoe::{args, Kernel, Session};

/// The lowest descriptor number not in use (the one a new file gets).
fn lowest_free_fd() -> u64 {
    use std::os::fd::AsRawFd;
    let probe = File::open("/dev/null").unwrap();
    probe.as_raw_fd() as u64
}

#[derive(Default)]
struct Heap {
    sf: Option<SocketFactory>,
    port: u16,
    clients: Vec<StdTcpStream>,
    padding: Vec<File>,
    accepted: Vec<mio::net::TcpStream>,
    accepted_while_starved: usize,
    starved_seen: bool,
}

#[test]
fn emfile_pauses_accepting_then_recovers() {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let mut kernel = Kernel::new().unwrap();
    Session::new(Heap::default())
        .inline_state("_start", |ctx, _| {
            let sf = SocketFactory::new()
                .bind_address("127.0.0.1")
                .success_event("accepted")
                .failure_event("failed")
                .accept_retry_delay(0.05)
                .create(ctx)
                .unwrap();
            ctx.heap.port = sf.getsockname().unwrap().port();
            ctx.heap.sf = Some(sf);
            // Three connections wait in the backlog; padding holds spare
            // descriptors to free later.
            for _ in 0..3 {
                let c = StdTcpStream::connect(("127.0.0.1", ctx.heap.port)).unwrap();
                ctx.heap.clients.push(c);
            }
            for _ in 0..8 {
                ctx.heap.padding.push(File::open("/dev/null").unwrap());
            }
            // Holes below the padding would let accept succeed: fill them.
            let limit = lowest_free_fd();
            let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
            setrlimit(Resource::RLIMIT_NOFILE, limit, hard).unwrap();
            ctx.delay("check", 0.5, args![]);
        })
        .inline_state("check", |ctx, _| {
            ctx.heap.accepted_while_starved = ctx.heap.accepted.len();
            ctx.heap.starved_seen = ctx.heap.sf.as_ref().unwrap().accept_paused();
            ctx.heap.padding.clear(); // descriptors free up
        })
        .inline_state("accepted", |ctx, mut a: rpoe::Args| {
            let s: mio::net::TcpStream = a.take_shared(rpoe::ARG0).unwrap();
            ctx.heap.accepted.push(s);
            if ctx.heap.accepted.len() == 3 {
                assert_eq!(ctx.heap.accepted_while_starved, 0);
                assert!(ctx.heap.starved_seen, "accepting was paused");
                assert!(!ctx.heap.sf.as_ref().unwrap().accept_paused());
                ctx.heap.sf = None;
                ctx.heap.clients.clear();
                ctx.heap.accepted.clear();
            }
        })
        .inline_state("failed", |_, a| -> () { panic!("{a:?}") })
        .create(&mut kernel)
        .unwrap();
    let started = std::time::Instant::now();
    let mut slices = 0u64;
    let mut starved_slices = 0u64;
    while kernel.run_one_timeslice().unwrap() {
        slices += 1;
        if started.elapsed().as_millis() < 450 {
            starved_slices += 1;
        }
        assert!(started.elapsed().as_secs() < 10, "never recovered");
    }
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    // 0.45 s of starvation at a 0.05 s retry: about 10 retries, not a spin.
    assert!(
        starved_slices < 100,
        "{starved_slices} timeslices while out of descriptors ({slices} in all)"
    );
}
