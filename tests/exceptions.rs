//! POE's exception scenarios (SPEC §12.F: t/07_exceptions, grinnz-die-in-die,
//! whelan-dieprop, rt19908, k_signals_rerun): panics in handlers become DIE
//! signals; unhandled ones stop the sessions and end `run()` with the
//! message. Panics print through the default panic hook; that is expected.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use rpoe::{args, Error, Kernel, Session, Value, ARG0, ARG1};

type Log = Rc<RefCell<Vec<String>>>;

fn note(log: &Log, s: impl Into<String>) {
    log.borrow_mut().push(s.into());
}

/// 01_normal: a DIE watcher that handles the signal sees ARG0 'DIE' and
/// ARG1 with from_state '_start' and the message; the session lives on and
/// its 0.5 s delay still fires; run() returns Ok.
#[test]
fn handled_die_keeps_the_session() {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let log: Log = Rc::default();
    Session::new(log.clone())
        .inline_state("_start", |ctx, _| {
            ctx.sig("DIE", "avoid_death");
            ctx.yield_("death", args![]);
            ctx.delay("party", 0.5, args![]);
        })
        .inline_state("death", |_, _| -> () { panic!("goodbye cruel world") })
        .inline_state("avoid_death", |ctx, args| {
            let info = args.get::<&Value>(ARG1).unwrap();
            let Value::Map(m) = info else {
                panic!("ARG1 is a map")
            };
            note(
                ctx.heap,
                format!(
                    "{} from_state={} event={} error={}",
                    args.get::<&str>(ARG0).unwrap(),
                    m["from_state"],
                    m["event"],
                    m["error_str"]
                ),
            );
            ctx.kernel.sig_handled();
        })
        .inline_state("party", |ctx, _| note(ctx.heap, "party"))
        .inline_state("_stop", |ctx, _| note(ctx.heap, "_stop"))
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "DIE from_state=_start event=death error=goodbye cruel world",
            "party",
            "_stop"
        ]
    );
}

/// 03_not_handled: a DIE watcher that does not call sig_handled: both
/// sessions are stopped, the other session's delay never fires, and run()
/// returns the panic message.
#[test]
fn unhandled_die_ends_run_with_the_message() {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let log: Log = Rc::default();
    Session::new(log.clone())
        .inline_state("_start", |ctx, _| {
            ctx.sig("DIE", "watch");
            ctx.yield_("death", args![]);
        })
        .inline_state("death", |_, _| -> () { panic!("not handled") })
        .inline_state("watch", |ctx, _| note(ctx.heap, "watcher ran"))
        .inline_state("_stop", |ctx, _| note(ctx.heap, "A _stop"))
        .create(&mut kernel)
        .unwrap();
    Session::new(log.clone())
        .inline_state("_start", |ctx, _| ctx.delay("later", 0.5, args![]))
        .inline_state("later", |ctx, _| note(ctx.heap, "later (must not run)"))
        .inline_state("_stop", |ctx, _| note(ctx.heap, "B _stop"))
        .create(&mut kernel)
        .unwrap();
    let err = kernel.run().unwrap_err();
    assert!(
        matches!(&err, Error::Panicked { message, event, .. } if message == "not handled" && event == "death")
    );
    assert_eq!(*log.borrow(), ["watcher ran", "A _stop", "B _stop"]);
    assert_eq!(kernel.session_count(), 0);
    // k_signals_rerun: the kernel can be used again.
    Session::new(log.clone())
        .inline_state("_start", |ctx, _| note(ctx.heap, "again"))
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(log.borrow().last().unwrap(), "again");
}

/// grinnz-die-in-die: a panic in `_start` and another in the DIE watcher:
/// run() fails with both messages.
#[test]
fn panic_in_die_watcher_is_fatal_with_both_messages() {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    Session::new(())
        .inline_state("_start", |ctx, _| -> () {
            ctx.sig("DIE", "on_die");
            panic!("original error");
        })
        .inline_state("on_die", |_, _| -> () { panic!("error in error handler") })
        .create(&mut kernel)
        .unwrap();
    let Error::Panicked { message, .. } = kernel.run().unwrap_err() else {
        panic!("expected Panicked")
    };
    assert!(message.contains("original error"), "{message}");
    assert!(message.contains("error in error handler"), "{message}");
}

/// whelan-dieprop: a child's unhandled DIE reaches its parent's DIE watcher
/// (the child's watcher runs first); the parent handles it.
#[test]
fn die_propagates_to_ancestors() {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let log: Log = Rc::default();
    Session::new(log.clone())
        .inline_state("_start", |ctx, _| {
            ctx.sig("DIE", "parent_die");
            let l = ctx.heap.clone();
            Session::new(l)
                .inline_state("_start", |ctx, _| {
                    ctx.sig("DIE", "child_die");
                    ctx.yield_("boom", args![]);
                })
                .inline_state("boom", |_, _| -> () { panic!("child died") })
                .inline_state("child_die", |ctx, _| note(ctx.heap, "child watcher"))
                .create(ctx)
                .unwrap();
        })
        .inline_state("parent_die", |ctx, _| {
            note(ctx.heap, "parent watcher");
            ctx.kernel.sig_handled();
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["child watcher", "parent watcher"]);
}

/// rt19908: a panic in `_stop` ends run() with its message, and `_stop`
/// ran exactly once.
#[test]
fn panic_in_stop_is_fatal_and_stop_runs_once() {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let stops = Rc::new(RefCell::new(0));
    Session::new(stops.clone())
        .inline_state("_start", |_, _| ())
        .inline_state("_stop", |ctx, _| -> () {
            *ctx.heap.borrow_mut() += 1;
            panic!("stop");
        })
        .create(&mut kernel)
        .unwrap();
    let err = kernel.run().unwrap_err();
    assert!(matches!(err, Error::Panicked { ref message, .. } if message == "stop"));
    assert_eq!(*stops.borrow(), 1);
}

/// A call into a handler that panics returns Error::Panicked to the caller,
/// which goes on; the DIE signal then reaches the callee's watcher.
#[test]
fn call_into_a_panicking_handler_is_an_error() {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let log: Log = Rc::default();
    let callee = Session::new(log.clone())
        .inline_state("_start", |ctx, _| {
            ctx.alias_set("callee").unwrap();
            ctx.sig("DIE", "died");
        })
        .inline_state("bad", |_, _| -> () { panic!("bad call") })
        .inline_state("died", |ctx, _| {
            note(ctx.heap, "callee saw DIE");
            ctx.kernel.sig_handled();
            ctx.alias_remove("callee").unwrap();
        })
        .create(&mut kernel)
        .unwrap();
    Session::new(log.clone())
        .inline_state("_start", move |ctx, _| {
            let r = ctx.call(callee, "bad", args![]);
            note(
                ctx.heap,
                format!("call -> {}", matches!(r, Err(Error::Panicked { .. }))),
            );
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["call -> true", "callee saw DIE"]);
}

/// 02_turn_off: with catching off, the panic propagates out of run() after
/// every session was stopped (`_stop` still runs); the kernel is usable.
#[test]
fn catching_off_propagates_the_panic() {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    kernel.catch_panics(false);
    let log: Log = Rc::default();
    Session::new(log.clone())
        .inline_state("_start", |ctx, _| ctx.yield_("death", args![]))
        .inline_state("death", |_, _| -> () { panic!("uncaught") })
        .inline_state("_stop", |ctx, _| note(ctx.heap, "_stop"))
        .create(&mut kernel)
        .unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| kernel.run())).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"uncaught"));
    assert_eq!(*log.borrow(), ["_stop"]);
    assert_eq!(kernel.session_count(), 0);
    kernel.catch_panics(true);
    Session::new(())
        .inline_state("_start", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
}
