//! Raw I/O watchers (SPEC §3.9, k_selects §12.H): select_read /
//! select_write with POE's level-triggered behaviour, pause and resume,
//! watchers holding sessions, and generation-checked tokens.

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;

use mio::net::UnixStream;
use rpoe::{args, Ctx, HandleId, Kernel, Session, ARG0, ARG1};

type Log = Rc<RefCell<Vec<String>>>;

#[derive(Default)]
struct Pair {
    a: Option<HandleId>,
    b: Option<HandleId>,
    count: u32,
    log: Log,
}

/// `n` socket pairs: the ends to watch, and their peers.
fn pairs(n: usize) -> (Vec<UnixStream>, Vec<UnixStream>) {
    (0..n).map(|_| UnixStream::pair().unwrap()).unzip()
}

fn read_all(ctx: &mut Ctx<Pair>, h: HandleId) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    let s = ctx.io::<UnixStream>(h).expect("watched");
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    out
}

/// Ping-pong five times over a socket pair: ARG0 is the handle, ARG1 the
/// mode (0 = read); the session lives while it watches, and ends when it
/// takes its sources back.
#[test]
fn ping_pong_over_a_pair() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    Session::new(Pair {
        log: log.clone(),
        ..Pair::default()
    })
    .inline_state("_start", |ctx, _| {
        let (a, b) = UnixStream::pair().unwrap();
        let a = ctx.kernel.watch(a).unwrap();
        let b = ctx.kernel.watch(b).unwrap();
        ctx.kernel.select_read(b, "got", args!["extra"]).unwrap();
        ctx.io::<UnixStream>(a).unwrap().write_all(b"ping").unwrap();
        ctx.heap.a = Some(a);
        ctx.heap.b = Some(b);
    })
    .inline_state("got", |ctx, args| {
        let h: HandleId = args.get(ARG0).unwrap();
        assert_eq!(args.get::<i64>(ARG1).unwrap(), 0, "read mode");
        assert_eq!(args.get::<&str>(2).unwrap(), "extra");
        assert_eq!(ctx.sender(), ctx.session());
        let data = read_all(ctx, h);
        ctx.heap.count += 1;
        let line = format!("{} {}", ctx.heap.count, String::from_utf8_lossy(&data));
        ctx.heap.log.borrow_mut().push(line);
        let a = ctx.heap.a.unwrap();
        if ctx.heap.count < 5 {
            ctx.io::<UnixStream>(a).unwrap().write_all(b"ping").unwrap();
        } else {
            let _a: UnixStream = ctx.kernel.unwatch(a).unwrap();
            let _b: UnixStream = ctx.kernel.unwatch(h).unwrap();
        }
    })
    .create(&mut kernel)
    .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *log.borrow(),
        ["1 ping", "2 ping", "3 ping", "4 ping", "5 ping"]
    );
}

/// POE's watchers are level-triggered: a handler that reads one byte per
/// call is called again while bytes remain (rpoe re-arms the edge).
#[test]
fn reads_are_level_triggered() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    Session::new(Pair {
        log: log.clone(),
        ..Pair::default()
    })
    .inline_state("_start", |ctx, _| {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"abcde").unwrap();
        let b = ctx.kernel.watch(b).unwrap();
        ctx.kernel.select_read(b, "byte", args![]).unwrap();
        ctx.heap.b = Some(b);
        ctx.heap.a = Some(ctx.kernel.watch(a).unwrap()); // keep the writer open
    })
    .inline_state("byte", |ctx, args| {
        let h: HandleId = args.get(ARG0).unwrap();
        let mut one = [0u8; 1];
        match ctx.io::<UnixStream>(h).unwrap().read(&mut one) {
            Ok(1) => ctx.heap.log.borrow_mut().push((one[0] as char).to_string()),
            _ => panic!("called without data: not level-triggered but spurious"),
        }
        if ctx.heap.log.borrow().len() == 5 {
            ctx.kernel.select_read_remove(h).unwrap();
            let a = ctx.heap.a.unwrap();
            let _: UnixStream = ctx.kernel.unwatch(a).unwrap();
            let _: UnixStream = ctx.kernel.unwatch(h).unwrap();
        }
    })
    .create(&mut kernel)
    .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["a", "b", "c", "d", "e"]);
}

/// select_pause_read keeps the watcher (and the session) but stops events;
/// resume brings them back with the data still pending. Pause and resume
/// report whether the handle is watched in that mode.
#[test]
fn pause_and_resume() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    Session::new(Pair {
        log: log.clone(),
        ..Pair::default()
    })
    .inline_state("_start", |ctx, _| {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"x").unwrap();
        let b = ctx.kernel.watch(b).unwrap();
        let a = ctx.kernel.watch(a).unwrap();
        assert!(!ctx.kernel.select_pause_read(b), "not watched yet");
        ctx.kernel.select_read(b, "got", args![]).unwrap();
        assert!(ctx.kernel.select_pause_read(b));
        ctx.heap.log.borrow_mut().push("paused".into());
        ctx.heap.a = Some(a);
        ctx.heap.b = Some(b);
        ctx.delay("resume", 0.05, args![]);
    })
    .inline_state("resume", |ctx, _| {
        ctx.heap.log.borrow_mut().push("resume".into());
        let b = ctx.heap.b.unwrap();
        assert!(ctx.kernel.select_resume_read(b));
    })
    .inline_state("got", |ctx, args| {
        let h: HandleId = args.get(ARG0).unwrap();
        let data = read_all(ctx, h);
        ctx.heap
            .log
            .borrow_mut()
            .push(format!("got {}", String::from_utf8_lossy(&data)));
        let a = ctx.heap.a.unwrap();
        let _: UnixStream = ctx.kernel.unwatch(a).unwrap();
        let _: UnixStream = ctx.kernel.unwatch(h).unwrap();
    })
    .create(&mut kernel)
    .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["paused", "resume", "got x"]);
}

/// k_selects: read and write watchers added and removed in any order end
/// cleanly; a session whose watchers are all removed is collected, and one
/// that stops with sources still watched releases them (run() returns).
#[test]
fn watchers_come_and_go_cleanly() {
    let mut kernel = Kernel::new().unwrap();
    let stopped: Log = Rc::default();
    Session::new(Pair {
        log: stopped.clone(),
        ..Pair::default()
    })
    .inline_state("_start", |ctx, _| {
        let (a, _b) = UnixStream::pair().unwrap();
        let r = ctx.kernel.watch(a).unwrap();
        ctx.kernel.select_read(r, "input", args![]).unwrap();
        ctx.kernel.select_write(r, "output", args![]).unwrap();
        ctx.kernel.select_write_remove(r).unwrap();
        ctx.kernel.select_write(r, "output", args![]).unwrap();
        ctx.kernel.select_read_remove(r).unwrap();
        ctx.kernel.select_write_remove(r).unwrap();
        // Another source stays watched while the session is stopped.
        let (c, _d) = UnixStream::pair().unwrap();
        let c = ctx.kernel.watch(c).unwrap();
        ctx.kernel.select_read(c, "input", args![]).unwrap();
        ctx.yield_("quit", args![]);
    })
    .inline_state("input", |_, _| ())
    .inline_state("output", |_, _| ())
    .inline_state("quit", |ctx, _| ctx.stop())
    .inline_state("_stop", |ctx, _| {
        ctx.heap.log.borrow_mut().push("_stop".into())
    })
    .create(&mut kernel)
    .unwrap();
    kernel.run().unwrap();
    assert_eq!(*stopped.borrow(), ["_stop"]);
    assert_eq!(kernel.session_count(), 0);
}

/// A handle id whose source was unwatched never reaches the source that
/// reuses its slot, even within the same poll batch (the token carries a
/// generation); calls with the stale id fail cleanly.
#[test]
fn stale_handles_never_reach_new_sources() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    Session::new(Pair {
        log: log.clone(),
        ..Pair::default()
    })
    .inline_state("_start", |ctx, _| {
        let (mut w1, r1) = UnixStream::pair().unwrap();
        let (mut w2, r2) = UnixStream::pair().unwrap();
        w1.write_all(b"1").unwrap();
        w2.write_all(b"2").unwrap();
        let h1 = ctx.kernel.watch(r1).unwrap();
        let h2 = ctx.kernel.watch(r2).unwrap();
        ctx.kernel.select_read(h1, "first", args![]).unwrap();
        ctx.kernel.select_read(h2, "first", args![]).unwrap();
        ctx.heap.a = Some(h1);
        ctx.heap.b = Some(h2);
        // Keep the writers alive (and their readers' data pending).
        let w1 = ctx.kernel.watch(w1).unwrap();
        let w2 = ctx.kernel.watch(w2).unwrap();
        ctx.heap
            .log
            .borrow_mut()
            .push(format!("writers {} {}", w1.id() != w2.id(), 1));
    })
    .inline_state("first", |ctx, args| {
        let me: HandleId = args.get(ARG0).unwrap();
        let other = if Some(me) == ctx.heap.a {
            ctx.heap.b.unwrap()
        } else {
            ctx.heap.a.unwrap()
        };
        if ctx.heap.count > 0 {
            panic!("the unwatched source was dispatched");
        }
        ctx.heap.count += 1;
        // Done with our own source: read it and stop watching.
        read_all(ctx, me);
        ctx.kernel.select_read_remove(me).unwrap();
        // Drop the other reader (its readiness may be in this very batch),
        // then watch a fresh one, which will likely take its slot.
        let _: UnixStream = ctx.kernel.unwatch(other).unwrap();
        let (w, r) = UnixStream::pair().unwrap();
        ctx.kernel.watch(w).unwrap(); // kept open (and unwatched): no EOF
        let fresh = ctx.kernel.watch(r).unwrap();
        ctx.kernel.select_read(fresh, "fresh", args![]).unwrap();
        assert!(
            ctx.kernel.io::<UnixStream>(other).is_none(),
            "stale id reaches nothing"
        );
        assert!(ctx.kernel.select_read(other, "first", args![]).is_err());
        ctx.heap.log.borrow_mut().push("first".into());
        ctx.delay("done", 0.05, args![]);
    })
    .inline_state("fresh", |ctx, _| {
        ctx.heap.log.borrow_mut().push("fresh (wrong)".into())
    })
    .inline_state("done", |ctx, _| ctx.stop())
    .create(&mut kernel)
    .unwrap();
    kernel.run().unwrap();
    let log = log.borrow();
    assert_eq!(log[1..], ["first"], "{} lines", log.len());
}

/// A read watcher on a socket that is writable but has nothing to read must
/// sleep, not spin: the poller watches only the modes that are active.
#[test]
fn an_idle_read_watcher_does_not_spin() {
    let mut kernel = Kernel::new().unwrap();
    Session::new(Pair::default())
        .inline_state("_start", |ctx, _| {
            let (a, b) = UnixStream::pair().unwrap();
            let a = ctx.kernel.watch(a).unwrap();
            ctx.kernel.select_read(a, "never", args![]).unwrap();
            ctx.heap.a = Some(a);
            ctx.heap.b = Some(ctx.kernel.watch(b).unwrap());
            ctx.delay_set("done", 0.05, args![]);
        })
        .inline_state("never", |_, _| -> () { panic!("nothing was written") })
        .inline_state("done", |ctx, _| {
            let a = ctx.heap.a.take().unwrap();
            let _: UnixStream = ctx.kernel.unwatch(a).unwrap();
        })
        .create(&mut kernel)
        .unwrap();
    let mut slices = 0;
    while kernel.run_one_timeslice().unwrap() {
        slices += 1;
        assert!(slices < 50, "the loop spins on a writable socket");
    }
}

/// A session stopped with sources still watched releases its own and no
/// other's: of two sessions watching a socket each, the one a TERM signal
/// stops has its socket closed, and the other still reads its own.
#[test]
fn a_stopped_session_releases_only_its_own_sources() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let mut peers = Vec::new();
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let (mine, peer) = UnixStream::pair().unwrap();
        let mine = RefCell::new(Some(mine));
        peers.push(peer);
        let l = log.clone();
        let id = Session::new(Pair::default())
            .inline_state("_start", move |ctx, _| {
                let h = ctx.kernel.watch(mine.take().unwrap()).unwrap();
                ctx.heap.a = Some(h);
                ctx.kernel.select_read(h, "input", args![]).unwrap();
            })
            .inline_state("input", move |ctx, _| {
                let h = ctx.heap.a.unwrap();
                let got = read_all(ctx, h);
                l.borrow_mut()
                    .push(format!("{name}:{}", String::from_utf8_lossy(&got)));
                if got.ends_with(b"bye") {
                    ctx.kernel.select_read_remove(h).unwrap();
                }
            })
            .create(&mut kernel)
            .unwrap();
        ids.push(id);
    }
    kernel.signal(ids[0], "TERM", args![]).unwrap();
    kernel.run_one_timeslice().unwrap();
    assert_eq!(kernel.session_count(), 1, "a stopped, b alive");
    // a's socket was released, and so closed: its peer has no reader.
    let lost = peers[0].write_all(b"lost").unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::BrokenPipe);
    peers[1].write_all(b"bye").unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["b:bye"]);
}

/// A session's sources are all released when it stops, also after one of
/// them was taken back from the middle of the ones it watches: of three
/// sockets, the second is unwatched and kept elsewhere (it stays open),
/// and a stop closes the first and the third.
#[test]
fn a_stop_after_an_unwatch_releases_the_rest() {
    let mut kernel = Kernel::new().unwrap();
    let kept: Rc<RefCell<Option<UnixStream>>> = Rc::default();
    let (mine, mut peers) = pairs(3);
    let mine = RefCell::new(mine);
    let k = kept.clone();
    let id = Session::new(Pair::default())
        .inline_state("_start", move |ctx, _| {
            let ids: Vec<HandleId> = mine
                .borrow_mut()
                .drain(..)
                .map(|s| ctx.kernel.watch(s).unwrap())
                .collect();
            for h in &ids {
                ctx.kernel.select_read(*h, "input", args![]).unwrap();
            }
            let second: UnixStream = ctx.kernel.unwatch(ids[1]).unwrap();
            *k.borrow_mut() = Some(second);
        })
        .inline_state("input", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    kernel.signal(id, "TERM", args![]).unwrap();
    kernel.run().unwrap();
    assert_eq!(kernel.session_count(), 0);
    for (i, peer) in peers.iter_mut().enumerate() {
        let wrote = peer.write_all(b"x");
        if i == 1 {
            assert!(wrote.is_ok(), "the unwatched source stays open");
        } else {
            assert_eq!(
                wrote.unwrap_err().kind(),
                ErrorKind::BrokenPipe,
                "source {i}"
            );
        }
    }
    assert!(kept.borrow().is_some());
}

/// What a poll dispatches when registrations asked for wakes (a wheel that
/// stopped reading early): a woken source the poller also reported is
/// called once, and the woken sources it did not report follow the
/// reported ones, in the order they were first woken, each once however
/// often it was woken. The kernel merges the two lists in one pass (a
/// search of the report per wake was quadratic in the busy sources); this
/// pins what the merge must keep.
#[test]
fn woken_sources_join_the_polls_report_once_each() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let (mine, mut peers) = pairs(3);
    // Only the first source has input when the session starts.
    peers[0].write_all(b"x").unwrap();
    let mine = RefCell::new(mine);
    type Regs = Rc<RefCell<Vec<rpoe::Registration>>>;
    let regs: Regs = Rc::default();
    let l = log.clone();
    let r = regs.clone();
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            let mut regs = r.borrow_mut();
            for (i, s) in mine.borrow_mut().drain(..).enumerate() {
                let reg = ctx.kernel.register(s);
                let (log, all) = (l.clone(), r.clone());
                let name = ["a", "b", "c"][i];
                ctx.select_read_state(reg.id(), name, move |ctx, args| {
                    let h: HandleId = args.get(ARG0).unwrap();
                    let mut buf = [0u8; 8];
                    let n = ctx.kernel.io::<UnixStream>(h).unwrap().read(&mut buf);
                    log.borrow_mut()
                        .push(format!("{name} {}", n.map_or(0, |n| n)));
                    if log.borrow().len() == 3 {
                        // Unwatch everything: a source called again in
                        // this poll would still show in the log.
                        all.borrow_mut().clear();
                    }
                })
                .unwrap();
                regs.push(reg);
            }
            // Woken: c, b, c again, and a, which the poller reports too.
            for i in [2, 1, 2, 0] {
                regs[i].wake_read();
            }
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["a 1", "c 0", "b 0"]);
    assert!(regs.borrow().is_empty());
}
