//! Real Unix signals and child processes (SPEC §3.7, k_signals,
//! k_sig_child, ses_session A.2). Process-wide signal state: everything is
//! in one test function, in its own test binary, run in order.

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;

use signal_hook::consts::signal::{SIGINT, SIGPIPE, SIGTERM, SIGUSR1};
use signal_hook::low_level::raise;

use rpoe::{args, Kernel, Session, ARG0, ARG1, ARG2};

type Log = Rc<RefCell<Vec<String>>>;

/// SIGPIPE never kills the process once a kernel exists.
fn sigpipe_is_harmless() {
    let _kernel = Kernel::new().unwrap();
    raise(SIGPIPE).unwrap();
}

/// A.2 / k_signals: USR1 raised five times, each reaching the watcher once
/// (ARG0 'USR1'); PIPE raised once reaches its watcher once; an INT handled
/// by sig_handled stops nobody.
fn raised_signals_reach_watchers() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    Session::new(log.clone())
        .inline_state("_start", |ctx, _| {
            ctx.sig("USR1", "usr1");
            ctx.sig("INT", "int");
            ctx.sig("PIPE", "int");
            ctx.yield_("kill", args![0]);
        })
        .inline_state("kill", |ctx, args| {
            let n: i64 = args.get(ARG0).unwrap();
            if n < 5 {
                raise(SIGUSR1).unwrap();
                ctx.delay("kill", 0.01, args![n + 1]);
            } else if n == 5 {
                raise(SIGPIPE).unwrap();
                raise(SIGINT).unwrap();
                ctx.delay("kill", 0.05, args![n + 1]);
            } else {
                ctx.sig_remove("USR1");
                ctx.sig_remove("INT");
                ctx.sig_remove("PIPE");
            }
        })
        .inline_state("usr1", |ctx, args| {
            ctx.heap
                .borrow_mut()
                .push(args.get::<String>(ARG0).unwrap());
            ctx.kernel.sig_handled();
        })
        .inline_state("int", |ctx, args| {
            ctx.heap
                .borrow_mut()
                .push(args.get::<String>(ARG0).unwrap());
            ctx.kernel.sig_handled();
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let mut got = log.borrow().clone();
    got[5..].sort(); // PIPE and INT arrive together; their order is the OS's
    assert_eq!(got, ["USR1", "USR1", "USR1", "USR1", "USR1", "INT", "PIPE"]);
}

/// An OS TERM nobody handles stops every session (it is sent to the
/// kernel, so it touches them all), even one held by an alias.
fn unhandled_os_term_stops_everything() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    Session::new(log.clone())
        .inline_state("_start", |ctx, _| {
            ctx.alias_set("daemon").unwrap();
            ctx.sig("TERM", "term");
            ctx.delay("raise", 0.01, args![]);
            ctx.delay("never", 60.0, args![]);
        })
        .inline_state("raise", |_, _| raise(SIGTERM).unwrap())
        .inline_state("term", |ctx, _| {
            ctx.heap.borrow_mut().push("term (not handled)".into())
        })
        .inline_state("never", |_, _| -> () { panic!("stopped before this") })
        .inline_state("_stop", |ctx, _| ctx.heap.borrow_mut().push("_stop".into()))
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["term (not handled)", "_stop"]);
}

/// k_sig_child: eight children; each `sig_child` watch fires once with the
/// pid and the wait status; `sig(CHLD)` sees all eight; the session, held
/// only by its watches, lives until the last one is delivered.
fn sig_child_reaps_every_child() {
    let mut kernel = Kernel::new().unwrap();
    let log: Log = Rc::default();
    let chld = Rc::new(RefCell::new(0));
    let chld_count = chld.clone();
    Session::new(log.clone())
        .inline_state("_start", move |ctx, _| {
            ctx.sig("CHLD", "any_child");
            for i in 0..8 {
                // The kernel reaps it (waitpid(-1)), as POE does; waiting
                // on the Child handle would race with that.
                #[allow(clippy::zombie_processes)]
                let child = Command::new("sh")
                    .args(["-c", &format!("exit {i}")])
                    .spawn()
                    .unwrap();
                ctx.sig_child(child.id(), "child_done", args![i]);
            }
        })
        .inline_state("child_done", |ctx, args| {
            let status: i64 = args.get(ARG2).unwrap();
            let i: i64 = args.get(3).unwrap();
            assert_eq!(args.get::<&str>(ARG0).unwrap(), "CHLD");
            assert!(args.get::<i64>(ARG1).unwrap() > 0);
            ctx.heap.borrow_mut().push(format!("{i}:{}", status >> 8));
        })
        .inline_state("any_child", move |_, args| {
            assert_eq!(args.get::<&str>(ARG0).unwrap(), "CHLD");
            *chld.borrow_mut() += 1;
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let mut got = log.borrow().clone();
    got.sort();
    assert_eq!(got, (0..8).map(|i| format!("{i}:{i}")).collect::<Vec<_>>());
    assert_eq!(*chld_count.borrow(), 8, "sig(CHLD) saw every child");
}

/// k_signals: eight sleeping children killed with INT; each watch reports
/// a status whose low bits are the signal (2), and sig(CHLD) counts eight.
fn killed_children_are_reaped() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let mut kernel = Kernel::new().unwrap();
    let statuses: Rc<RefCell<Vec<i64>>> = Rc::default();
    let chld = Rc::new(RefCell::new(0));
    let count = chld.clone();
    Session::new(statuses.clone())
        .inline_state("_start", move |ctx, _| {
            ctx.sig("CHLD", "any_child");
            for _ in 0..8 {
                #[allow(clippy::zombie_processes)] // the kernel reaps it
                let child = Command::new("sleep").arg("30").spawn().unwrap();
                ctx.sig_child(child.id(), "child_done", args![]);
                kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
            }
        })
        .inline_state("child_done", |ctx, args| {
            ctx.heap.borrow_mut().push(args.get::<i64>(ARG2).unwrap());
        })
        .inline_state("any_child", move |_, _| *chld.borrow_mut() += 1)
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*statuses.borrow(), vec![SIGINT as i64; 8]);
    assert_eq!(*count.borrow(), 8);
}

#[test]
fn os_signals_in_order() {
    sigpipe_is_harmless();
    raised_signals_reach_watchers();
    unhandled_os_term_stops_everything();
    sig_child_reaps_every_child();
    killed_children_are_reaped();
}
