//! POE::Test::Loops `ses_session` scenarios (SPEC §12.A), ported.
//! A.2 (real ALRM/PIPE signals) belongs to the OS-signal work (issue 3) and is not
//! here; A.6 is POE's Perl-only constructor errors, whose Rust analogue is
//! `create` without `_start`.

use std::cell::RefCell;
use std::rc::Rc;

use rpoe::{args, Args, Ctx, Error, Kernel, Session, SessionId, Value, ARG0};

/// What each counting session reports in `_stop`: (session, count,
/// deliveries with SENDER == SESSION, `_default` calls).
type StopLog = Rc<RefCell<Vec<(SessionId, i64, i64, i64)>>>;

#[derive(Default)]
struct Counter {
    count: i64,
    sender_was_session: i64,
    defaults: i64,
    log: StopLog,
}

/// A.1: ten sessions count to 5 through yield + post + call; `count` always
/// sees SENDER == SESSION, the bogus event reaches `_default` (STATE
/// `_default`) every time, and the heap is intact in `_stop`.
#[test]
fn a1_ten_sessions_count_to_five() {
    let mut kernel = Kernel::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..10 {
        Session::new(Counter {
            log: log.clone(),
            ..Counter::default()
        })
        .inline_state("_start", |ctx, _| ctx.yield_("count", args![]))
        .inline_state("count", |ctx, _| {
            if ctx.sender() == ctx.session() {
                ctx.heap.sender_was_session += 1;
            }
            let me = ctx.session();
            ctx.post(me, "bogus", args!["x"]).unwrap();
            let next = ctx.call(me, "next_count", args![]).unwrap();
            if next.as_int().unwrap() < 5 {
                ctx.yield_("count", args![]);
            }
        })
        .inline_state("next_count", |ctx, _| {
            ctx.heap.count += 1;
            ctx.heap.count
        })
        .inline_state("_default", |ctx, args| {
            assert_eq!(ctx.state(), "_default");
            assert_eq!(args.get::<&str>(ARG0).unwrap(), "bogus");
            ctx.heap.defaults += 1;
        })
        .inline_state("_stop", |ctx, _| {
            let h = &ctx.heap;
            h.log.borrow_mut().push((
                ctx.kernel.session(),
                h.count,
                h.sender_was_session,
                h.defaults,
            ));
        })
        .create(&mut kernel)
        .unwrap();
    }
    kernel.run().unwrap();
    let log = log.borrow();
    assert_eq!(log.len(), 10);
    assert!(log.iter().all(|&(_, count, _, _)| count == 5));
    assert_eq!(
        log.iter().map(|l| l.2).sum::<i64>(),
        50,
        "SENDER == SESSION in all 50 counts"
    );
    assert_eq!(
        log.iter().map(|l| l.3).sum::<i64>(),
        50,
        "_default called 50 times"
    );
}

/// A.3: a server with alias 'server'. The client posts `query` with a
/// postback: the response arrives with ARG0 = [cookie] (creation args) and
/// ARG1 = [response] (invocation args). The client calls `sync_query` and
/// gets the answer before `call` returns. A callback to the client, invoked
/// by the server *during* the client's call, is the A -> B -> A cycle Rust
/// cannot serve: it returns Error::Reentrant (DIFFERENCES.md #8); invoked
/// from a later event it runs synchronously and returns its value. Inside
/// `_stop` the active session is the session and its heap is there.
#[test]
fn a3_postback_callback_and_call_by_alias() {
    use rpoe::{Callback, Postback, ARG1};
    let mut kernel = Kernel::new().unwrap();
    let answers = Rc::new(RefCell::new(Vec::<String>::new()));
    Session::new(7i64)
        .inline_state("_start", |ctx, _| ctx.alias_set("server").unwrap())
        .inline_state("query", |ctx, args| {
            let q: String = args.get(ARG0)?;
            let pb = args.shared::<Postback>(ARG1)?.clone();
            pb.post(ctx, args![format!("post:{q}")])?;
            Ok::<_, Error>(())
        })
        .inline_state("sync_query", |ctx, args| {
            let cb = args.shared::<Callback>(ARG1)?.clone();
            let nested = cb.call(ctx, args!["during call"]);
            assert!(matches!(nested, Err(Error::Reentrant { .. })));
            ctx.yield_("later", args![Value::shared(cb)]);
            Ok::<_, Error>(format!("call:{}", args.get::<&str>(ARG0)?))
        })
        .inline_state("later", |ctx, args| {
            let cb = args.shared::<Callback>(ARG0)?.clone();
            let r = cb.call(ctx, args!["later"])?;
            assert_eq!(r, Value::from("callback returned"));
            ctx.alias_remove("server")
        })
        .inline_state("_stop", |ctx, _| {
            assert_eq!(ctx.get_active_session(), ctx.session());
            assert_eq!(*ctx.heap, 7);
        })
        .create(&mut kernel)
        .unwrap();
    Session::new(answers.clone())
        .inline_state("_start", |ctx, _| {
            let pb = ctx.postback("response", args!["cookie"]);
            ctx.post("server", "query", args!["q1", Value::shared(pb)])
                .unwrap();
            let cb = ctx.callback("sync_response", args!["cookie2"]);
            let r = ctx
                .call("server", "sync_query", args!["q2", Value::shared(cb)])
                .unwrap();
            ctx.heap.borrow_mut().push(r.to_string());
        })
        .inline_state("response", |ctx, args| {
            ctx.heap.borrow_mut().push(format!(
                "{} {}",
                args.get::<&Value>(ARG0)?,
                args.get::<&Value>(ARG1)?
            ));
            Ok::<_, Error>(())
        })
        .inline_state("sync_response", |ctx, args| {
            ctx.heap.borrow_mut().push(format!(
                "cb {} {}",
                args.get::<&Value>(ARG0)?,
                args.get::<&Value>(ARG1)?
            ));
            Ok::<_, Error>("callback returned")
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *answers.borrow(),
        // `later` is queued in batch 1 beside `query`; the postback's
        // response is posted while batch 1 runs, so it comes in batch 2.
        ["call:q2", "cb [cookie2] [later]", "[cookie] [post:q1]"]
    );
}

/// A postback keeps its session alive (and the kernel busy) until the
/// last copy is dropped; `weaken` lets go early.
#[test]
fn postbacks_hold_their_session() {
    let mut kernel = Kernel::new().unwrap();
    let stopped = Rc::new(RefCell::new(Vec::<&str>::new()));
    let kept: Rc<RefCell<Option<rpoe::Postback>>> = Rc::default();
    let k = kept.clone();
    Session::new(stopped.clone())
        .inline_state("_start", move |ctx, _| {
            *k.borrow_mut() = Some(ctx.postback("ping", args![]));
            let mut weak = ctx.postback("ping", args![]);
            weak.weaken();
        })
        .inline_state("_stop", |ctx, _| ctx.heap.borrow_mut().push("held"))
        .create(&mut kernel)
        .unwrap();
    // One batch: the new session's initial GC check finds it held. (More
    // timeslices would wait forever, as POE does: nothing is queued and
    // only the postback holds the session.)
    assert!(kernel.run_one_timeslice().unwrap());
    assert_eq!(kernel.session_count(), 1);
    assert!(stopped.borrow().is_empty(), "held by the postback");
    kept.borrow_mut().take();
    kernel.run().unwrap();
    assert_eq!(*stopped.borrow(), ["held"]);
}

/// An object whose methods are the states (POE's object_states), and a
/// type whose associated functions are (package_states).
#[derive(Default)]
struct Obj {
    count: i64,
    done: Rc<RefCell<Vec<i64>>>,
}

impl Obj {
    fn start(ctx: &mut Ctx<Self>, _: Args) {
        ctx.yield_("count", args![]);
    }
    fn count(ctx: &mut Ctx<Self>, _: Args) {
        ctx.heap.count += 1;
        if ctx.heap.count < 5 {
            ctx.yield_("count", args![]);
        }
    }
    fn stop(ctx: &mut Ctx<Self>, _: Args) {
        ctx.heap.done.borrow_mut().push(ctx.heap.count);
    }
}

/// A.4: object and package states count to 5; the object is the heap.
#[test]
fn a4_object_and_package_states() {
    let mut kernel = Kernel::new().unwrap();
    let done = Rc::new(RefCell::new(Vec::new()));
    Session::new(Obj {
        done: done.clone(),
        ..Obj::default()
    })
    .object_state("_start", Obj::start)
    .object_state("count", Obj::count)
    .object_state("_stop", Obj::stop)
    .create(&mut kernel)
    .unwrap();
    Session::new(Obj {
        done: done.clone(),
        ..Obj::default()
    })
    .package_state("_start", Obj::start)
    .package_state("count", Obj::count)
    .package_state("_stop", Obj::stop)
    .create(&mut kernel)
    .unwrap();
    kernel.run().unwrap();
    assert_eq!(*done.borrow(), [5, 5]);
}

/// A.6 (Rust analogue): a session without `_start` is refused and nothing
/// is allocated: the next session still gets id 1.
#[test]
fn a6_no_start_state_is_refused() {
    let mut kernel = Kernel::new().unwrap();
    let r = Session::new(())
        .inline_state("x", |_, _| ())
        .create(&mut kernel);
    assert!(matches!(r, Err(Error::NoStartState)));
    let id = Session::new(())
        .inline_state("_start", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    assert_eq!(id.id(), 1);
}

/// A.7: the active session is the kernel before and after run().
#[test]
fn a7_active_session_is_kernel_outside_run() {
    let mut kernel = Kernel::new().unwrap();
    assert!(kernel.handle().get_active_session().is_kernel());
    Session::new(())
        .inline_state("_start", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert!(kernel.handle().get_active_session().is_kernel());
}

/// A heap that records when it is dropped.
struct Tracked {
    name: i64,
    dropped: Rc<RefCell<Vec<i64>>>,
}
impl Drop for Tracked {
    fn drop(&mut self) {
        self.dropped.borrow_mut().push(self.name);
    }
}

#[derive(Default)]
struct StopCounts {
    stops: i64,
    loses: i64,
    parents: i64,
}

fn nested(
    depth: i64,
    counts: Rc<RefCell<StopCounts>>,
    dropped: Rc<RefCell<Vec<i64>>>,
) -> Session<Tracked> {
    let (c1, c2, c3) = (counts.clone(), counts.clone(), counts);
    Session::new(Tracked {
        name: depth,
        dropped,
    })
    .inline_state("_start", move |ctx, _| {
        ctx.alias_set(&format!("nest{depth}")).unwrap();
        ctx.delay("hour", 3600.0, args![]);
        if depth < 4 {
            let d = ctx.heap.dropped.clone();
            nested(depth + 1, c1.clone(), d).create(ctx).unwrap();
        } else {
            ctx.post("nest1", "stop", args![]).unwrap();
        }
    })
    .inline_state("stop", |ctx, _| ctx.stop())
    .inline_state("hour", |_, _| -> () {
        panic!("the hour-long delay must never fire")
    })
    .inline_state("_stop", move |_, _| c2.borrow_mut().stops += 1)
    .inline_state("_child", move |_, args| {
        if args.get::<&str>(ARG0).unwrap() == "lose" {
            c3.borrow_mut().loses += 1;
        }
    })
    .inline_state("_parent", |_, _| -> () {
        panic!("no _parent: children stop first")
    })
}

/// A.8: four nested sessions, each with an alias and an hour-long delay;
/// the outermost calls stop(): all four get `_stop`, three `_child(lose)`
/// are sent, no `_parent`, all heaps are dropped, and run() returns at once.
#[test]
fn a8_stop_stops_everything_with_notifications() {
    let mut kernel = Kernel::new().unwrap();
    let counts = Rc::new(RefCell::new(StopCounts::default()));
    let dropped = Rc::new(RefCell::new(Vec::new()));
    nested(1, counts.clone(), dropped.clone())
        .create(&mut kernel)
        .unwrap();
    let started = std::time::Instant::now();
    kernel.run().unwrap();
    assert!(started.elapsed().as_secs() < 60);
    let c = counts.borrow();
    assert_eq!((c.stops, c.loses, c.parents), (4, 3, 0));
    assert_eq!(*dropped.borrow(), [4, 3, 2, 1], "deepest first");
    assert_eq!(kernel.session_count(), 0);
}

/// A.9: after run() returns, a new session runs in a second run(): `_start`,
/// a yielded event, a delayed event, `_stop`; ids keep counting.
#[test]
fn a9_run_again_after_run_returns() {
    let mut kernel = Kernel::new().unwrap();
    Session::new(())
        .inline_state("_start", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let trace = Rc::new(RefCell::new(Vec::<String>::new()));
    let id = Session::new(trace.clone())
        .inline_state("_start", |ctx, _| {
            ctx.heap.borrow_mut().push("_start".into());
            ctx.yield_("woot", args![]);
            ctx.delay("narf", 0.05, args![]);
        })
        .inline_state("woot", |ctx, _| ctx.heap.borrow_mut().push("woot".into()))
        .inline_state("narf", |ctx, _| ctx.heap.borrow_mut().push("narf".into()))
        .inline_state("_stop", |ctx, _| ctx.heap.borrow_mut().push("_stop".into()))
        .create(&mut kernel)
        .unwrap();
    assert_eq!(id.id(), 2);
    kernel.run().unwrap();
    assert_eq!(*trace.borrow(), ["_start", "woot", "narf", "_stop"]);
    assert_eq!(
        Rc::strong_count(&trace),
        1,
        "the session's heap was dropped"
    );
}

/// `_default` gets ARG0 = the original name and ARG1 = its arguments as a
/// list; its return value is what `call` returns (SPEC §1.5, rt14444).
#[test]
fn default_gets_name_and_args() {
    let mut kernel = Kernel::new().unwrap();
    let id = Session::new(())
        .inline_state("_start", |ctx, _| ctx.alias_set("d").unwrap())
        .inline_state("_default", |_, args| args.into_vec())
        .create(&mut kernel)
        .unwrap();
    let got = kernel.call(id, "nope", args![1, "two"]).unwrap();
    assert_eq!(
        got,
        Value::List(vec![
            "nope".into(),
            Value::List(vec![1.into(), "two".into()])
        ])
    );
    kernel.stop();
}

/// In `_default`, STATE is `_default` but the active event is still the
/// one redirected (POE sets `$kr_active_event` before the session
/// redirects): `get_active_event` returns it, and so does the CALLER_STATE
/// of what `_default` posts, for a posted event as for a call.
#[test]
fn default_keeps_the_redirected_event_active() {
    let mut kernel = Kernel::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    Session::new(seen.clone())
        .inline_state("_start", |ctx, _| ctx.yield_("posted_nowhere", args![]))
        .inline_state("_default", |ctx, args| {
            let name: String = args.get(ARG0)?;
            let line = format!("{} {} {}", ctx.state(), name, ctx.get_active_event());
            ctx.heap.borrow_mut().push(line);
            if name == "posted_nowhere" {
                ctx.yield_("report", args![]);
                let me = ctx.session();
                ctx.call(me, "called_nowhere", args![]).unwrap();
            }
            Ok::<_, rpoe::ArgError>(())
        })
        .inline_state("report", |ctx, _| {
            let line = format!("report from {:?}", ctx.caller_state());
            ctx.heap.borrow_mut().push(line);
        })
        .inline_state("_stop", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *seen.borrow(),
        [
            "_default posted_nowhere posted_nowhere",
            "_default called_nowhere posted_nowhere",
            "report from Some(\"posted_nowhere\")",
        ]
    );
}

/// A.5: `option` returns the old value; POE's spellings normalise ("on" is
/// 1, "off" 0); `Undef` deletes; options given at creation are there in
/// `_start`; `trace` and `default` sessions still dispatch normally.
#[test]
fn a5_session_options() {
    let mut kernel = Kernel::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::<Option<Value>>::new()));
    Session::new(seen.clone())
        .option("trace", "on")
        .inline_state("_start", |ctx, _| {
            let log = vec![
                ctx.option_get("trace"),
                ctx.kernel.option("default", "yes"),
                ctx.kernel.option("default", 0),
                ctx.kernel.option("default", Value::Undef),
                ctx.option_get("default"),
                ctx.kernel.option("trace", "off"),
            ];
            ctx.heap.borrow_mut().extend(log);
            ctx.kernel.option("default", "true");
            ctx.yield_("no_such_event", args![]);
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *seen.borrow(),
        [
            Some(Value::Int(1)),
            None,
            Some(Value::Int(1)),
            Some(Value::Int(0)),
            None,
            Some(Value::Int(1)),
        ]
    );
}

/// Sessions built from one shared handler table (`StateTable`) each run
/// with their own heap; a session's own `inline_state` wins over the
/// table's handler of the same name.
#[test]
fn shared_state_tables() {
    use rpoe::StateTable;
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let l2 = log.clone();
    let table = StateTable::<i64>::new()
        .inline_state("_start", |ctx, _| ctx.yield_("hello", rpoe::args![]))
        .inline_state("hello", move |ctx, _| {
            l2.borrow_mut().push(format!("table hello {}", ctx.heap))
        })
        .build();
    let mut kernel = rpoe::Kernel::new().unwrap();
    rpoe::Session::with_shared_states(1, &table)
        .create(&mut kernel)
        .unwrap();
    let l3 = log.clone();
    rpoe::Session::with_shared_states(2, &table)
        .inline_state("hello", move |ctx, _| {
            l3.borrow_mut().push(format!("own hello {}", ctx.heap))
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["table hello 1", "own hello 2"]);
}

/// POE's parent/child bookkeeping as `get_children` shows it, in creation
/// order: a session's children, and the kernel's (the top-level sessions,
/// which rpoe finds by a scan rather than an index): a child that detaches
/// becomes top-level, sorted among the others by id, and a child that
/// stops leaves its parent's list.
#[test]
fn children_in_creation_order_detached_and_gone() {
    type Seen = Rc<RefCell<Vec<(&'static str, Vec<u64>)>>>;
    fn ids(v: Vec<SessionId>) -> Vec<u64> {
        v.into_iter().map(|s| s.id()).collect()
    }
    let mut kernel = Kernel::new().unwrap();
    let seen: Seen = Rc::default();
    let leaf = || {
        Session::new(())
            .inline_state("_start", |ctx, _| {
                let name = format!("s{}", ctx.session().id());
                ctx.alias_set(&name).unwrap()
            })
            .inline_state("detach", |ctx, _| ctx.detach_myself().unwrap())
            .inline_state("go", |ctx, _| {
                let me = ctx.session();
                ctx.alias_remove(&format!("s{}", me.id())).unwrap();
            })
    };
    // 1: top-level, parent of 2 (parent of 3 and 4) and 5.
    let s = seen.clone();
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            ctx.alias_set("s1").unwrap();
            Session::new(())
                .inline_state("_start", move |ctx, _| {
                    ctx.alias_set("s2").unwrap();
                    leaf().create(ctx).unwrap();
                    leaf().create(ctx).unwrap();
                })
                .inline_state("go", |ctx, _| ctx.alias_remove("s2").unwrap())
                .create(ctx)
                .unwrap();
            leaf().create(ctx).unwrap();
        })
        .inline_state("look", move |ctx, args| {
            let when: &str = args.get(ARG0).unwrap();
            let when: &'static str = if when == "before" { "before" } else { "after" };
            let mut s = s.borrow_mut();
            s.push((when, ids(ctx.get_children(SessionId::KERNEL))));
            s.push((when, ids(ctx.get_children(ctx.session()))));
            let two = ctx.kernel.alias_resolve("s2");
            s.push((
                when,
                two.map(|t| ids(ctx.get_children(t))).unwrap_or_default(),
            ));
        })
        .inline_state("go", |ctx, _| ctx.alias_remove("s1").unwrap())
        .create(&mut kernel)
        .unwrap();
    // 6: another top-level session, created after them.
    Session::new(())
        .inline_state("_start", |ctx, _| ctx.alias_set("s6").unwrap())
        .inline_state("steps", |ctx, _| {
            ctx.post("s1", "look", args!["before"]).unwrap();
            ctx.post("s4", "detach", args![]).unwrap();
            ctx.post("s5", "go", args![]).unwrap();
            ctx.yield_("later", args![]);
        })
        .inline_state("later", |ctx, _| {
            // 4 is top-level now, and 5 was collected after its batch.
            ctx.post("s1", "look", args!["after"]).unwrap();
            for s in ["s1", "s2", "s3", "s4"] {
                ctx.post(s, "go", args![]).unwrap();
            }
            ctx.alias_remove("s6").unwrap();
        })
        .create(&mut kernel)
        .unwrap();
    kernel.post("s6", "steps", args![]).unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *seen.borrow(),
        [
            ("before", vec![1, 6]),
            ("before", vec![2, 5]),
            ("before", vec![3, 4]),
            ("after", vec![1, 4, 6]),
            ("after", vec![2]),
            ("after", vec![3]),
        ]
    );
    assert_eq!(kernel.session_count(), 0);
}

/// A notification whose target's handler is running further up the stack is
/// queued instead of nested (DIFFERENCES.md #8), with its arguments whole: a
/// parent calls its child, the child detaches itself, and the parent's
/// `_child("lose", child)` arrives afterwards with both arguments.
#[test]
fn a_notification_to_a_running_parent_is_queued_with_its_arguments() {
    let mut kernel = Kernel::new().unwrap();
    type Seen = Vec<(String, Option<SessionId>)>;
    let seen: Rc<RefCell<Seen>> = Rc::default();
    let child_id: Rc<RefCell<Option<SessionId>>> = Rc::default();
    let (s, c) = (seen.clone(), child_id.clone());
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            let child = Session::new(())
                .inline_state("_start", |_, _| ())
                .inline_state("leave", |ctx, _| ctx.detach_myself().unwrap())
                .create(ctx)
                .unwrap();
            *c.borrow_mut() = Some(child);
            ctx.call(child, "leave", args![]).unwrap();
        })
        .inline_state("_child", move |_, args| {
            let what: String = args.get(ARG0).unwrap();
            s.borrow_mut().push((what, args.get(1).ok()));
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let child = child_id.borrow().unwrap();
    assert_eq!(
        *seen.borrow(),
        vec![
            ("create".to_string(), Some(child)),
            ("lose".to_string(), Some(child))
        ]
    );
}
