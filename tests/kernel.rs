//! The kernel's own guarantees beyond the POE scenarios: ids, stale ids,
//! call cycles, typed arguments, queue order, reference counts, signals,
//! the dispatch hook, and kernels in parallel threads.

use std::cell::RefCell;
use std::rc::Rc;

use rpoe::{args, ArgError, Error, Kernel, Session, SessionId, Value, ARG0};

fn idle_session() -> Session<()> {
    Session::new(()).inline_state("_start", |_, _| ())
}

/// POE: ids count up from 1 and are never reused; a stale id never reaches
/// the newer session that took over its slab slot.
#[test]
fn ids_count_up_and_stale_ids_never_reach_new_sessions() {
    let mut kernel = Kernel::new().unwrap();
    let first = idle_session().create(&mut kernel).unwrap();
    assert_eq!(first.id(), 1);
    kernel.run().unwrap(); // collected
    let second = Session::new(())
        .inline_state("_start", |ctx, _| ctx.alias_set("keep").unwrap())
        .inline_state("ping", |_, _| "pong")
        .create(&mut kernel)
        .unwrap();
    assert_eq!(second.id(), 2);
    assert!(matches!(
        kernel.post(first, "ping", args![]),
        Err(Error::NoSuchSession(_))
    ));
    assert!(matches!(
        kernel.call(first, "ping", args![]),
        Err(Error::NoSuchSession(_))
    ));
    assert_eq!(kernel.id_to_session(1), None);
    assert_eq!(
        kernel.call(second, "ping", args![]).unwrap(),
        Value::from("pong")
    );
    kernel.stop();
}

/// `call` from a handler to a session id that is gone, or to the kernel,
/// fails as POE's does (ESRCH, ENOSYS) and reaches nothing; `post` to the
/// gone id fails with ESRCH and queues nothing, while a post to the
/// kernel is accepted (and ignored when it comes up). Ids are not looked
/// up before delivery or queueing, which find (or fail to find) the
/// session themselves, so this pins the errors that lookup used to give.
#[test]
fn handler_call_and_post_to_a_gone_session_or_the_kernel() {
    let mut kernel = Kernel::new().unwrap();
    let gone = idle_session().create(&mut kernel).unwrap();
    kernel.run().unwrap(); // collected
                           // Nothing is queued by a post that fails.
    let before = format!("{kernel:?}");
    assert!(matches!(
        kernel.post(gone, "ping", args![]),
        Err(Error::NoSuchSession(_))
    ));
    assert_eq!(format!("{kernel:?}"), before);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let seen2 = seen.clone();
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            let r = ctx.call(gone, "ping", args![]);
            seen2.borrow_mut().push(match r {
                Err(Error::NoSuchSession(s)) => {
                    format!("esrch {s} {}", Error::NoSuchSession(String::new()).errno())
                }
                other => format!("{other:?}"),
            });
            let r = ctx.call(SessionId::KERNEL, "ping", args![]);
            seen2.borrow_mut().push(match r {
                Err(e @ Error::NoHandler { .. }) => format!("enosys {}", e.errno()),
                other => format!("{other:?}"),
            });
            let r = ctx.post(gone, "ping", args![]);
            seen2.borrow_mut().push(format!("post gone: {r:?}"));
            let r = ctx.post(SessionId::KERNEL, "ping", args![]);
            seen2.borrow_mut().push(format!("post kernel: {r:?}"));
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *seen.borrow(),
        [
            format!("esrch {gone} 3"),
            "enosys 38".to_owned(),
            format!("post gone: Err(NoSuchSession(\"{gone}\"))"),
            "post kernel: Ok(())".to_owned(),
        ]
    );
}

/// A call cycle (A calls B calls A) is refused with Error::Reentrant, not a
/// panic; A's handler goes on and sees the error.
#[test]
fn call_cycle_is_an_error() {
    let mut kernel = Kernel::new().unwrap();
    let result = Rc::new(RefCell::new(None));
    let b = Session::new(())
        .inline_state("_start", |_, _| ())
        .inline_state("back", |ctx, args| {
            let a: SessionId = args.get(ARG0)?;
            let r = ctx.call(a, "ping", args![]);
            Ok::<_, ArgError>(matches!(r, Err(Error::Reentrant { .. })))
        })
        .create(&mut kernel)
        .unwrap();
    let r = result.clone();
    Session::new(r)
        .inline_state("_start", move |ctx, _| {
            let me = ctx.session();
            let refused = ctx.call(b, "back", args![me]).unwrap();
            *ctx.heap.borrow_mut() = Some(refused);
        })
        .inline_state("ping", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*result.borrow(), Some(Value::Bool(true)));
}

/// A mistyped or missing argument is a typed error returned by `call` (and
/// logged for posts), never a panic.
#[test]
fn bad_arguments_are_errors() {
    let mut kernel = Kernel::new().unwrap();
    let id = Session::new(())
        .inline_state("_start", |ctx, _| ctx.alias_set("n").unwrap())
        .inline_state("double", |_, args| {
            Ok::<_, ArgError>(args.get::<i64>(ARG0)? * 2)
        })
        .create(&mut kernel)
        .unwrap();
    assert_eq!(
        kernel.call(id, "double", args![21]).unwrap(),
        Value::Int(42)
    );
    let err = kernel.call(id, "double", args!["x"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "handler for 'double' in session 1 failed: ARG0: expected integer, found string"
    );
    let err = kernel.call(id, "double", args![]).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("ARG0: expected integer, found nothing"));
    kernel.post(id, "double", args![0.5]).unwrap(); // logged, not fatal
    kernel.stop();
    kernel.run().unwrap();
}

/// The queue is FIFO across sessions, `call` runs before anything queued,
/// and a self-call runs at once with the same heap.
#[test]
fn fifo_order_and_call_first() {
    let mut kernel = Kernel::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::<String>::new()));
    let o = order.clone();
    Session::new(o)
        .inline_state("_start", |ctx, _| {
            ctx.alias_set("b").unwrap();
        })
        .inline_state("ev", |ctx, args| {
            ctx.heap
                .borrow_mut()
                .push(format!("b:{}", args.get::<&str>(ARG0).unwrap()));
        })
        .inline_state("bye", |ctx, _| ctx.alias_remove("b"))
        .create(&mut kernel)
        .unwrap();
    Session::new(order.clone())
        .inline_state("_start", |ctx, _| {
            ctx.post("b", "ev", args!["1"]).unwrap();
            ctx.yield_("ev", args!["2"]);
            ctx.post("b", "ev", args!["3"]).unwrap();
            ctx.call("b", "ev", args!["call"]).unwrap();
            let me = ctx.session();
            ctx.call(me, "ev", args!["selfcall"]).unwrap();
            ctx.post("b", "bye", args![]).unwrap();
        })
        .inline_state("ev", |ctx, args| {
            ctx.heap
                .borrow_mut()
                .push(format!("a:{}", args.get::<&str>(ARG0).unwrap()));
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *order.borrow(),
        ["b:call", "a:selfcall", "b:1", "a:2", "b:3"]
    );
}

/// The dispatch hook sees every handler invocation in order, with sender.
#[test]
fn dispatch_hook_records_order() {
    let mut kernel = Kernel::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let s = seen.clone();
    kernel.set_dispatch_hook(move |d| {
        s.borrow_mut()
            .push(format!("{}:{}<-{}", d.session, d.event, d.sender))
    });
    Session::new(())
        .inline_state("_start", |ctx, _| ctx.yield_("tick", args![]))
        .inline_state("tick", |_, _| ())
        .inline_state("_stop", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *seen.borrow(),
        ["1:_start<-KERNEL", "1:tick<-1", "1:_stop<-KERNEL"]
    );
}

/// extrefs_gc: a session that increments and decrements its own extra
/// reference in `_start` still runs its yielded event; an extra reference
/// keeps a session alive until released from elsewhere.
#[test]
fn extra_references_hold_sessions() {
    let mut kernel = Kernel::new().unwrap();
    let trace = Rc::new(RefCell::new(Vec::<String>::new()));
    let held = Session::new(trace.clone())
        .inline_state("_start", |ctx, _| {
            let me = ctx.session();
            assert_eq!(ctx.refcount_increment(me, "t").unwrap(), 1);
            assert_eq!(ctx.refcount_increment(me, "t").unwrap(), 2);
            assert_eq!(ctx.refcount_decrement(me, "t").unwrap(), 1);
            ctx.yield_("later", args![]);
        })
        .inline_state("later", |ctx, _| ctx.heap.borrow_mut().push("later".into()))
        .inline_state("_stop", |ctx, _| {
            ctx.heap.borrow_mut().push("held _stop".into())
        })
        .create(&mut kernel)
        .unwrap();
    Session::new(trace.clone())
        .inline_state("_start", |ctx, _| ctx.delay("release", 0.01, args![]))
        .inline_state("release", move |ctx, _| {
            ctx.heap.borrow_mut().push("release".into());
            assert_eq!(ctx.refcount_decrement(held, "t").unwrap(), 0);
            assert!(matches!(
                ctx.refcount_decrement(held, "t"),
                Err(Error::NoSuchTag(_))
            ));
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*trace.borrow(), ["later", "release", "held _stop"]);
}

/// z_kogman E.5/E.7: an unhandled TERM stops the target and its
/// descendants, deepest first, and leaves other sessions alone; a handled
/// one (sig_handled) stops nobody.
#[test]
fn terminal_signals_stop_unless_handled() {
    for handled in [false, true] {
        let mut kernel = Kernel::new().unwrap();
        let log = Rc::new(RefCell::new(Vec::<String>::new()));
        let l = log.clone();
        let parent = Session::new(log.clone())
            .inline_state("_start", move |ctx, _| {
                ctx.alias_set("p").unwrap();
                let l = l.clone();
                Session::new(l)
                    .inline_state("_start", move |ctx, _| {
                        ctx.alias_set("c").unwrap();
                        if handled {
                            ctx.sig("TERM", "term");
                        }
                    })
                    .inline_state("term", |ctx, args| {
                        ctx.heap
                            .borrow_mut()
                            .push(format!("c term {}", args.get::<&str>(ARG0).unwrap()));
                        ctx.kernel.sig_handled();
                    })
                    .inline_state("_stop", |ctx, _| {
                        ctx.heap.borrow_mut().push("c stop".into())
                    })
                    .create(ctx)
                    .unwrap();
            })
            .inline_state("_stop", |ctx, _| {
                ctx.heap.borrow_mut().push("p stop".into())
            })
            .create(&mut kernel)
            .unwrap();
        Session::new(log.clone())
            .inline_state("_start", |ctx, _| ctx.alias_set("bystander").unwrap())
            .inline_state("_stop", |ctx, _| {
                ctx.heap.borrow_mut().push("bystander stop".into())
            })
            .create(&mut kernel)
            .unwrap();
        kernel.signal(parent, "TERM", args![]).unwrap();
        kernel.run_one_timeslice().unwrap(); // the signal is dispatched; IDLE would come next
        let before_idle: Vec<String> = log.borrow().clone();
        if handled {
            assert_eq!(before_idle, ["c term TERM"]);
        } else {
            assert_eq!(before_idle, ["c stop", "p stop"]);
        }
        kernel.stop();
    }
}

/// run_while stops when its condition turns false; run_one_timeslice
/// returns false once no session is left.
#[test]
fn run_while_and_timeslices() {
    let mut kernel = Kernel::new().unwrap();
    let id = Session::new(0u32)
        .inline_state("_start", |ctx, _| ctx.yield_("tick", args![]))
        .inline_state("tick", |ctx, _| {
            *ctx.heap += 1;
            ctx.yield_("tick", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    kernel
        .run_while(|k| k.with_heap::<u32, _>(id, |n| *n < 10).unwrap_or(false))
        .unwrap();
    assert_eq!(kernel.with_heap::<u32, _>(id, |n| *n), Some(10));
    assert_eq!(
        kernel.with_heap::<i64, _>(id, |n| *n),
        None,
        "wrong heap type"
    );
    kernel.stop();
    assert!(!kernel.run_one_timeslice().unwrap());
}

/// Posts made by a session while it stops (in `_stop`) are dropped, as POE
/// drops every event from a stopped session.
#[test]
fn posts_from_stopping_session_are_dropped() {
    let mut kernel = Kernel::new().unwrap();
    let got = Rc::new(RefCell::new(0));
    Session::new(got.clone())
        .inline_state("_start", |ctx, _| {
            ctx.alias_set("sink").unwrap();
            ctx.delay("bye", 0.02, args![]);
        })
        .inline_state("msg", |ctx, _| *ctx.heap.borrow_mut() += 1)
        .inline_state("bye", |ctx, _| ctx.alias_remove("sink"))
        .create(&mut kernel)
        .unwrap();
    Session::new(())
        .inline_state("_start", |_, _| ())
        .inline_state("_stop", |ctx, _| ctx.post("sink", "msg", args![]).unwrap())
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*got.borrow(), 0);
}

/// One kernel per thread and no global state: kernels run in parallel.
#[test]
fn kernels_run_in_parallel_threads() {
    let handles: Vec<_> = (0..4)
        .map(|n| {
            std::thread::spawn(move || {
                let mut kernel = Kernel::new().unwrap();
                let count = Rc::new(RefCell::new(0));
                Session::new(count.clone())
                    .inline_state("_start", |ctx, _| ctx.yield_("tick", args![]))
                    .inline_state("tick", move |ctx, _| {
                        *ctx.heap.borrow_mut() += 1;
                        if *ctx.heap.borrow() < 1000 + n {
                            ctx.yield_("tick", args![]);
                        }
                    })
                    .create(&mut kernel)
                    .unwrap();
                kernel.run().unwrap();
                let c = *count.borrow();
                c
            })
        })
        .collect();
    let counts: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(counts, [1000, 1001, 1002, 1003]);
}

/// `call_prepared` is `ctx.call(ctx.session(), ...)` without the lookup:
/// the same SENDER, STATE, CALLER_STATE and active event, the same
/// `_default` redirection and the same errors; a prepared call used in
/// another session is refused.
#[test]
fn prepared_self_call_is_a_self_call() {
    type Seen = Rc<RefCell<Vec<String>>>;
    fn note(ctx: &rpoe::Ctx<'_, Seen>, tag: &str, arg: &str) {
        let line = format!(
            "{tag} sender={} state={} caller={:?} active={} arg={arg}",
            ctx.sender().id(),
            ctx.state(),
            ctx.caller_state(),
            ctx.get_active_event()
        );
        ctx.heap.borrow_mut().push(line);
    }
    let run = |prepared: bool| {
        let seen: Seen = Rc::default();
        let mut kernel = Kernel::new().unwrap();
        Session::new(seen.clone())
            .inline_state("_start", |ctx, _| ctx.yield_("outer", args![]))
            .inline_state("outer", move |ctx, _| {
                let me = ctx.session();
                let mut results = Vec::new();
                for (event, arg) in [("ev", "a"), ("ev", "b"), ("nothing", "c")] {
                    let r = if prepared {
                        let call = ctx.prepare_call(event);
                        ctx.call_prepared(&call, args![arg])
                    } else {
                        ctx.call(me, event, args![arg])
                    };
                    results.push(format!("{r:?}"));
                }
                ctx.heap.borrow_mut().extend(results);
            })
            .inline_state("ev", |ctx, args| {
                let arg: String = args.get(ARG0)?;
                note(ctx, "ev", &arg);
                Ok::<_, ArgError>(arg.len() as i64)
            })
            .inline_state("_default", |ctx, args| {
                note(ctx, "default", &format!("{:?}", args.as_slice()));
            })
            .create(&mut kernel)
            .unwrap();
        kernel.run().unwrap();
        let seen = seen.borrow().clone();
        seen
    };
    let plain = run(false);
    // Three handler runs, three results, and `_stop` through `_default`.
    assert_eq!(plain.len(), 7, "{plain:?}");
    assert_eq!(run(true), plain);

    // Refused in another session.
    let mut kernel = Kernel::new().unwrap();
    let call = Rc::new(RefCell::new(None));
    let c = call.clone();
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            *c.borrow_mut() = Some(ctx.prepare_call("ev"));
        })
        .inline_state("ev", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    let c = call.clone();
    let refused = Rc::new(RefCell::new(false));
    let r = refused.clone();
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            let prepared = c.borrow_mut().take().unwrap();
            *r.borrow_mut() = matches!(
                ctx.call_prepared(&prepared, args![]),
                Err(Error::InvalidArgument(_))
            );
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert!(*refused.borrow());
}

/// Every event reaches the handler of its own name, however names
/// alternate: static names (which the kernel remembers per session by
/// address), the same names built at run time (shared strings), calls
/// between posts, and names with no handler (`_default`, with STATE
/// `_default` and ARG0 the original name); two sessions sharing one state
/// table each keep their own remembered handler.
#[test]
fn each_event_reaches_its_own_handler_however_names_alternate() {
    let mut kernel = Kernel::new().unwrap();
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let table = {
        let (a, b, d) = (seen.clone(), seen.clone(), seen.clone());
        rpoe::StateTable::new()
            .inline_state("a", move |ctx: &mut rpoe::Ctx<'_, u32>, _| {
                a.borrow_mut().push(format!("{}:a", ctx.heap))
            })
            .inline_state("b", move |ctx: &mut rpoe::Ctx<'_, u32>, _| {
                b.borrow_mut().push(format!("{}:b", ctx.heap))
            })
            .inline_state("_default", move |ctx: &mut rpoe::Ctx<'_, u32>, args| {
                let name: String = args.get(ARG0).unwrap();
                d.borrow_mut()
                    .push(format!("{}:{}({name})", ctx.heap, ctx.state()));
            })
            .build()
    };
    // Aliases keep both alive for the calls after the run.
    let one = Session::with_shared_states(1u32, &table)
        .inline_state("_start", |ctx, _| ctx.alias_set("one").unwrap())
        .create(&mut kernel)
        .unwrap();
    let two = Session::with_shared_states(2u32, &table)
        .inline_state("_start", |ctx, _| ctx.alias_set("two").unwrap())
        .create(&mut kernel)
        .unwrap();
    kernel.post(one, "a", args![]).unwrap();
    kernel.post(one, "a", args![]).unwrap();
    kernel.post(two, "b", args![]).unwrap();
    kernel.post(one, "b", args![]).unwrap();
    kernel.post(one, String::from("a"), args![]).unwrap();
    kernel.post(one, "c", args![]).unwrap();
    kernel.post(one, "a", args![]).unwrap();
    kernel.post(two, String::from("z"), args![]).unwrap();
    kernel.post(two, "b", args![]).unwrap();
    kernel.run_until_idle().unwrap();
    kernel.call(one, "b", args![]).unwrap();
    kernel.call(one, "c", args![]).unwrap();
    kernel.call(two, "a", args![]).unwrap();
    assert_eq!(
        *seen.borrow(),
        [
            "1:a",
            "1:a",
            "2:b",
            "1:b",
            "1:a",
            "1:_default(c)",
            "1:a",
            "2:_default(z)",
            "2:b",
            "1:b",
            "1:_default(c)",
            "2:a",
        ]
    );
}

/// POE queues an internal `_garbage_collect` event for each new session,
/// holding it until its turn in the queue: the holds count in
/// get_event_count, come up in queue order among posts (so a session that
/// is posted to before its hold comes up lives on, and one that is not is
/// collected in that batch), and a kernel stopped before they come up
/// drops them with the sessions.
#[test]
fn new_sessions_are_held_until_their_turn() {
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let child = |name: &'static str, log: &Rc<RefCell<Vec<String>>>| {
        let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
        Session::new(())
            .inline_state("_start", move |ctx, _| {
                l1.borrow_mut()
                    .push(format!("{name} start, queued {}", ctx.get_event_count()));
            })
            .inline_state("poke", move |ctx, _| {
                l2.borrow_mut()
                    .push(format!("{name} poked, queued {}", ctx.get_event_count()));
            })
            .inline_state("_stop", move |_, _| {
                l3.borrow_mut().push(format!("{name} stop"))
            })
    };
    let mut kernel = Kernel::new().unwrap();
    let (l, c) = (log.clone(), log.clone());
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            let a = child("a", &l).create(ctx).unwrap();
            l.borrow_mut()
                .push(format!("after a, queued {}", ctx.get_event_count()));
            child("b", &l).create(ctx).unwrap();
            l.borrow_mut()
                .push(format!("after b, queued {}", ctx.get_event_count()));
            ctx.post(a, "poke", args![]).unwrap();
            ctx.yield_("check", args![]);
            l.borrow_mut()
                .push(format!("posted, queued {}", ctx.get_event_count()));
        })
        .inline_state("check", move |ctx, _| {
            c.borrow_mut()
                .push(format!("check, queued {}", ctx.get_event_count()));
        })
        .inline_state("_child", |_, _| ())
        .inline_state("_stop", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "a start, queued 0",
            "after a, queued 1",
            "b start, queued 1",
            "after b, queued 2",
            "posted, queued 4",
            // a's hold and b's come up first, then the poke (a lives on
            // for it), the check and the parent's own hold; a and b are
            // collected at the end of that batch, newest mark first.
            "a poked, queued 2",
            "check, queued 1",
            "a stop",
            "b stop",
        ]
    );

    // Stopped before any hold came up: the holds go with their sessions.
    let mut kernel = Kernel::new().unwrap();
    child("x", &log).create(&mut kernel).unwrap();
    child("y", &log).create(&mut kernel).unwrap();
    assert!(format!("{kernel:?}").contains("queued: 2"), "{kernel:?}");
    kernel.stop();
    assert!(format!("{kernel:?}").contains("queued: 0"), "{kernel:?}");
    kernel.run().unwrap();
    assert_eq!(kernel.session_count(), 0);
}

/// `run` goes from one batch of posts straight to the next when nothing is
/// watched; that must dispatch exactly what stepping with
/// `run_one_timeslice` does: the same events in the same order, batches
/// kept (a post made during a batch waits for the next one), IDLE when the
/// queue empties while an alias holds a session, timers among posts and
/// a timer alone in the queue (on virtual time, which only a timeslice's
/// wait moves on: a batch loop that ran on would spin), GC between
/// batches, `stop()` from a handler.
#[test]
fn run_dispatches_as_timeslice_stepping_does() {
    fn program(kernel: &mut Kernel) -> Rc<RefCell<Vec<String>>> {
        let seen = record_dispatches(kernel);
        Session::new(())
            .inline_state("_start", |ctx, _| ctx.alias_set("b").unwrap())
            .inline_state("ping", |ctx, args| {
                let n: i64 = args.get(ARG0)?;
                if n == 3 {
                    Session::new(())
                        .inline_state("_start", |ctx, _| ctx.yield_("child", args![]))
                        .inline_state("child", |_, _| ())
                        .create(ctx)
                        .unwrap();
                }
                ctx.post("a", "pong", args![n])?;
                if n == 4 {
                    ctx.alias_remove("b").unwrap();
                }
                Ok::<_, Error>(())
            })
            .create(kernel)
            .unwrap();
        Session::new(0i64)
            .inline_state("_start", |ctx, _| {
                ctx.alias_set("a").unwrap();
                ctx.sig("IDLE", "idle");
                ctx.yield_("tick", args![]);
                ctx.post("b", "ping", args![0]).unwrap();
                ctx.delay("timer", 0.0, args![]);
                // Due when nothing else is queued: a timeslice sleeps (here,
                // jumps virtual time) until then; a batch must not spin.
                ctx.delay("timer", 5.0, args![]);
            })
            .inline_state("tick", |ctx, _| {
                *ctx.heap += 1;
                if *ctx.heap < 5 {
                    ctx.yield_("tick", args![]);
                    let n = *ctx.heap;
                    ctx.post("b", "ping", args![n]).unwrap();
                }
            })
            .inline_state("pong", |_, _| ())
            .inline_state("timer", |_, _| ())
            .inline_state("idle", on_idle_give_up_alias_a)
            .inline_state("_stop", |_, _| ())
            .create(kernel)
            .unwrap();
        seen
    }
    let stepped_log = stepped_and_ran_alike(program);
    assert!(stepped_log.len() > 20);
    assert!(stepped_log.iter().any(|e| e.ends_with(":idle<-KERNEL")));

    // stop() from a handler, in the middle of a run of batches.
    let (mut stepped, mut ran) = (
        Kernel::new_virtual(0.0).unwrap(),
        Kernel::new_virtual(0.0).unwrap(),
    );
    let logs: Vec<_> = [&mut stepped, &mut ran]
        .into_iter()
        .map(|kernel| {
            let log = program(kernel);
            Session::new(0)
                .inline_state("_start", |ctx, _| ctx.yield_("count", args![]))
                .inline_state("count", |ctx, _| {
                    *ctx.heap += 1;
                    if *ctx.heap == 3 {
                        ctx.stop();
                    }
                    ctx.yield_("count", args![]);
                })
                .create(kernel)
                .unwrap();
            log
        })
        .collect();
    while stepped.run_one_timeslice().unwrap() {}
    ran.run().unwrap();
    assert!(logs[0].borrow().iter().any(|e| e.ends_with(":_stop<-3")));
    assert_eq!(*logs[1].borrow(), *logs[0].borrow());
}

/// `run` dispatches batches of posts back to back in one loop where the end
/// of one batch and the start of the next would do nothing (one event per
/// batch in a ping-pong): it must dispatch what stepping with
/// `run_one_timeslice` does where something does happen between batches:
/// the GC stopping a session nothing holds, a dropped postback releasing
/// its session, a new session's hold, an alias removed, IDLE. No timers
/// here: with one queued, batches are not run together.
#[test]
fn back_to_back_batches_dispatch_as_timeslice_stepping_does() {
    fn program(kernel: &mut Kernel) -> Rc<RefCell<Vec<String>>> {
        let seen = record_dispatches(kernel);
        // "a" ticks, pinging "b" each time; it keeps a postback to "held"
        // until its third tick.
        Session::new((0i64, None::<Value>))
            .inline_state("_start", |ctx, _| {
                ctx.alias_set("a").unwrap();
                ctx.sig("IDLE", "idle");
                ctx.yield_("tick", args![]);
            })
            .inline_state("keep", |ctx, mut args| ctx.heap.1 = Some(args.take(0)))
            .inline_state("tick", |ctx, _| {
                ctx.heap.0 += 1;
                let n = ctx.heap.0;
                if n == 3 {
                    ctx.heap.1 = None;
                }
                if n < 7 {
                    ctx.yield_("tick", args![]);
                    ctx.post("b", "ping", args![n]).unwrap();
                }
            })
            .inline_state("pong", |_, _| ())
            .inline_state("idle", on_idle_give_up_alias_a)
            .inline_state("_stop", |_, _| ())
            .create(kernel)
            .unwrap();
        // "b" answers each ping to its sender; makes a child (a ticker) at
        // 2; gives up its alias at 5.
        Session::new(())
            .inline_state("_start", |ctx, _| ctx.alias_set("b").unwrap())
            .inline_state("ping", |ctx, args| {
                let n: i64 = args.get(ARG0)?;
                if n == 2 {
                    ticker(3).create(ctx).unwrap();
                }
                let sender = ctx.sender();
                ctx.post(sender, "pong", args![n])?;
                if n == 5 {
                    ctx.alias_remove("b").unwrap();
                }
                Ok::<_, Error>(())
            })
            .inline_state("_stop", |_, _| ())
            .create(kernel)
            .unwrap();
        // "held" is held by nothing but its postback, in "a"'s heap.
        Session::new(())
            .inline_state("_start", |ctx, _| {
                let pb = ctx.postback("never", args![]);
                ctx.post("a", "keep", args![Value::shared(pb)]).unwrap();
            })
            .inline_state("_stop", |_, _| ())
            .create(kernel)
            .unwrap();
        // "loner" ticks twice; then nothing holds it.
        ticker(2).create(kernel).unwrap();
        seen
    }
    /// A session that yields "tick" `times` times, then holds nothing.
    fn ticker(times: i64) -> Session<i64> {
        Session::new(0)
            .inline_state("_start", |ctx, _| ctx.yield_("tick", args![]))
            .inline_state("tick", move |ctx, _| {
                *ctx.heap += 1;
                if *ctx.heap < times {
                    ctx.yield_("tick", args![]);
                }
            })
            .inline_state("_stop", |_, _| ())
    }
    let stepped_log = stepped_and_ran_alike(program);
    for stop in ["1", "2", "3", "4", "5"] {
        let stopped = format!("{stop}:_stop<-");
        assert!(
            stepped_log.iter().any(|e| e.starts_with(&stopped)),
            "session {stop} stops: {stepped_log:?}"
        );
    }
    assert!(stepped_log.iter().any(|e| e.ends_with(":idle<-KERNEL")));
}

/// Logs every dispatch of `kernel` as `session:event<-sender`.
fn record_dispatches(kernel: &mut Kernel) -> Rc<RefCell<Vec<String>>> {
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let s = seen.clone();
    kernel.set_dispatch_hook(move |d| {
        s.borrow_mut()
            .push(format!("{}:{}<-{}", d.session, d.event, d.sender))
    });
    seen
}

/// Runs `program` on a virtual-time kernel stepped with
/// `run_one_timeslice`, and on another with `run`; asserts that both
/// dispatched the same events in the same order, and returns them.
fn stepped_and_ran_alike(program: fn(&mut Kernel) -> Rc<RefCell<Vec<String>>>) -> Vec<String> {
    let mut stepped = Kernel::new_virtual(0.0).unwrap();
    let stepped_log = program(&mut stepped);
    while stepped.run_one_timeslice().unwrap() {}
    let mut ran = Kernel::new_virtual(0.0).unwrap();
    let ran_log = program(&mut ran);
    ran.run().unwrap();
    assert_eq!(*ran_log.borrow(), *stepped_log.borrow());
    let log = stepped_log.borrow().clone();
    log
}

/// An IDLE handler: handles the signal, gives up alias "a" and stops
/// watching IDLE.
fn on_idle_give_up_alias_a<H>(ctx: &mut rpoe::Ctx<'_, H>, _: rpoe::Args) {
    ctx.sig_handled();
    ctx.alias_remove("a").unwrap();
    ctx.sig("IDLE", "");
}

/// Sessions made from the same closures (which capture nothing, so the
/// kernel shares one handler among them) still run on their own heaps:
/// each counts its own ticks, as its `_stop` reports.
#[test]
fn sessions_sharing_stateless_handlers_keep_their_own_heaps() {
    let totals: Rc<RefCell<Vec<(i64, i64)>>> = Rc::default();
    let mut kernel = Kernel::new().unwrap();
    for ticks in [3, 5, 7] {
        let log = totals.clone();
        Session::new((0i64, ticks))
            .inline_state("_start", |ctx, _| ctx.yield_("tick", args![]))
            .inline_state("tick", |ctx, _| {
                ctx.heap.0 += 1;
                if ctx.heap.0 < ctx.heap.1 {
                    ctx.yield_("tick", args![]);
                }
            })
            .inline_state("_stop", move |ctx, _| log.borrow_mut().push(*ctx.heap))
            .create(&mut kernel)
            .unwrap();
    }
    kernel.run().unwrap();
    let mut seen = totals.borrow().clone();
    seen.sort();
    assert_eq!(seen, vec![(3, 3), (5, 5), (7, 7)]);
}

/// POE: a later state of the same name replaces the earlier one. Pinned
/// for every mix of closures that capture nothing (kept apart and shared
/// until the session is created) and closures that capture something.
#[test]
fn a_later_handler_replaces_an_earlier_one_of_the_same_name() {
    let log: Rc<RefCell<Vec<&'static str>>> = Rc::default();
    let l = log.clone();
    let capturing = move |tag: &'static str| {
        let l = l.clone();
        move |_: &mut rpoe::Ctx<'_, ()>, _: rpoe::Args| l.borrow_mut().push(tag)
    };
    let mut kernel = Kernel::new().unwrap();
    let start = |ctx: &mut rpoe::Ctx<'_, ()>, _| ctx.yield_("ev", args![]);
    // stateless, then capturing: the capturing one runs
    let s1 = Session::new(())
        .inline_state("_start", start)
        .inline_state("ev", |_, _| -> () { panic!("replaced") })
        .inline_state("ev", capturing("second"));
    assert!(s1.has_state("ev") && s1.has_state("_start") && !s1.has_state("other"));
    s1.create(&mut kernel).unwrap();
    // capturing, then stateless: the stateless one runs (it yields "done")
    Session::new(())
        .inline_state("_start", start)
        .inline_state("ev", capturing("replaced"))
        .inline_state("ev", |ctx, _| ctx.yield_("done", args![]))
        .inline_state("done", capturing("stateless won"))
        .create(&mut kernel)
        .unwrap();
    // stateless twice: the second runs
    Session::new(())
        .inline_state("_start", start)
        .inline_state("ev", |_, _| -> () { panic!("replaced") })
        .inline_state("ev", |ctx, _| ctx.yield_("done", args![]))
        .inline_state("done", capturing("second stateless"))
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let mut seen = log.borrow().clone();
    seen.sort();
    assert_eq!(seen, vec!["second", "second stateless", "stateless won"]);
}

/// POE's GC marks a session when its count reaches 0, and sweeps the marks
/// of a batch newest first. When one dispatch releases both its
/// destination and its source, the destination is marked first (POE
/// releases an event's counts before its handler runs), so the source
/// stops first; a session that lets go of its alias in its handler is
/// marked then. Both traces were printed by POE 1.370 for the same
/// programs (in Perl, with `print` where these push to the log).
#[test]
fn gc_stops_sessions_newest_mark_first() {
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let logger = |name: &'static str| {
        let log = log.clone();
        move |what: &str| log.borrow_mut().push(format!("{name} {what}"))
    };

    // b's post is a's last event, and b's last hold: dispatching it
    // releases both (POE: b start, a start, b go, a last, b stop, a stop).
    let mut kernel = Kernel::new().unwrap();
    let a_id: Rc<std::cell::Cell<Option<SessionId>>> = Rc::default();
    let (b1, b2, b3) = (logger("b"), logger("b"), logger("b"));
    let to = a_id.clone();
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            b1("start");
            ctx.yield_("go", args![]);
        })
        .inline_state("go", move |ctx, _| {
            b2("go");
            ctx.post(to.get().unwrap(), "last", args![]).unwrap();
        })
        .inline_state("_stop", move |_, _| b3("stop"))
        .create(&mut kernel)
        .unwrap();
    let (a1, a2, a3) = (logger("a"), logger("a"), logger("a"));
    let a = Session::new(())
        .inline_state("_start", move |_, _| a1("start"))
        .inline_state("last", move |_, _| a2("last"))
        .inline_state("_stop", move |_, _| a3("stop"))
        .create(&mut kernel)
        .unwrap();
    a_id.set(Some(a));
    kernel.run().unwrap();
    assert_eq!(
        *log.borrow(),
        ["b start", "a start", "b go", "a last", "b stop", "a stop"]
    );

    // The same with aliases and a self-post in the batch (POE: a start,
    // b start, c start, d start, a last, c bye, d x, d stop, b stop,
    // a stop, c stop).
    log.borrow_mut().clear();
    let mut kernel = Kernel::new().unwrap();
    let (a1, a2, a3) = (logger("a"), logger("a"), logger("a"));
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            ctx.alias_set("a").unwrap();
            a1("start");
        })
        .inline_state("last", move |ctx, _| {
            a2("last");
            ctx.alias_remove("a").unwrap();
        })
        .inline_state("_stop", move |_, _| a3("stop"))
        .create(&mut kernel)
        .unwrap();
    let (b1, b2) = (logger("b"), logger("b"));
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            b1("start");
            ctx.post("a", "last", args![]).unwrap();
        })
        .inline_state("_stop", move |_, _| b2("stop"))
        .create(&mut kernel)
        .unwrap();
    let (c1, c2, c3) = (logger("c"), logger("c"), logger("c"));
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            ctx.alias_set("c").unwrap();
            c1("start");
        })
        .inline_state("bye", move |_, _| c2("bye"))
        .inline_state("_stop", move |_, _| c3("stop"))
        .create(&mut kernel)
        .unwrap();
    let (d1, d2, d3) = (logger("d"), logger("d"), logger("d"));
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            d1("start");
            ctx.post("c", "bye", args![]).unwrap();
            ctx.yield_("x", args![]);
        })
        .inline_state("x", move |_, _| d2("x"))
        .inline_state("_stop", move |_, _| d3("stop"))
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "a start", "b start", "c start", "d start", "a last", "c bye", "d x", "d stop",
            "b stop", "a stop", "c stop"
        ]
    );
}

/// Sessions sharing a handler table (built with `StateTable`, or made for
/// closures that capture nothing) each run their own `_start` and `_stop`
/// with the frame POE gives them (STATE, SENDER: the creator, then the
/// kernel for the GC's stop), and a shared table without `_stop` sends it
/// where it sends any event it has no handler for (`_default`).
#[test]
fn shared_tables_run_start_and_stop_for_each_session() {
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let note = |log: &Rc<RefCell<Vec<String>>>| {
        let log = log.clone();
        move |ctx: &mut rpoe::Ctx<'_, u32>, args: rpoe::Args| {
            let arg = args.get::<String>(ARG0).unwrap_or_default();
            log.borrow_mut().push(format!(
                "{} {} from {} {arg}",
                ctx.heap,
                ctx.state(),
                ctx.sender()
            ));
        }
    };
    let with_stop = rpoe::StateTable::new()
        .inline_state("_start", note(&log))
        .inline_state("_stop", note(&log))
        .build();
    let without_stop = rpoe::StateTable::new()
        .inline_state("_start", note(&log))
        .inline_state("_default", note(&log))
        .build();
    let mut kernel = Kernel::new().unwrap();
    for (heap, table) in [(1, &with_stop), (2, &without_stop), (3, &with_stop)] {
        Session::with_shared_states(heap, table)
            .create(&mut kernel)
            .unwrap();
    }
    // Capture-less closures: the table made for them is shared too.
    for heap in [4u32, 5] {
        Session::new(heap)
            .inline_state("_start", |ctx, _| ctx.yield_("tick", args![]))
            .inline_state("tick", |ctx, _| *ctx.heap *= 10)
            .inline_state("_stop", |ctx, _| {
                assert_eq!(ctx.state(), "_stop");
                assert_eq!(*ctx.heap % 10, 0, "tick ran before _stop");
            })
            .create(&mut kernel)
            .unwrap();
    }
    kernel.run().unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "1 _start from KERNEL ",
            "2 _start from KERNEL ",
            "3 _start from KERNEL ",
            "3 _stop from KERNEL ",
            "2 _default from KERNEL _stop",
            "1 _stop from KERNEL ",
        ]
    );
}
