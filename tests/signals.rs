//! POE::Test::Loops `z_kogman_sig_order` and `z_steinert_signal_integrity`
//! (SPEC §12.E): which sessions a signal touches, in which order watchers
//! run, and who is stopped when nobody handles a terminal signal.

use std::cell::RefCell;
use std::rc::Rc;

use rpoe::{args, Ctx, Kernel, Session, SessionHost, ARG0, ARG1};

type Log = Rc<RefCell<Vec<String>>>;

/// What a session of these scenarios does.
#[derive(Clone, Default)]
struct Plan {
    name: &'static str,
    /// (signal, watcher event)
    watch: Vec<(&'static str, &'static str)>,
    /// Send this signal to itself in `_start`.
    signal_self: Option<&'static str>,
    /// delay(bar => 0.1) in `_start`.
    bar: bool,
    /// Children to create in `_start`.
    children: Vec<Plan>,
}

fn create(host: &mut impl SessionHost, plan: Plan, log: Log) {
    let name = plan.name;
    let watch = plan.watch.clone();
    Session::new(log)
        .inline_state("_start", move |ctx: &mut Ctx<Log>, _| {
            ctx.heap.borrow_mut().push(format!("enter {name}"));
            for (sig, ev) in &watch {
                ctx.sig(sig, *ev);
            }
            if plan.bar {
                ctx.delay("bar", 0.1, args![]);
            }
            for child in &plan.children {
                let log = ctx.heap.clone();
                create(ctx, child.clone(), log);
            }
            if let Some(sig) = plan.signal_self {
                let me = ctx.session();
                ctx.signal(me, sig, args![]).unwrap();
            }
            ctx.heap.borrow_mut().push(format!("leave {name}"));
        })
        .inline_state("foo", move |ctx, _| {
            ctx.heap.borrow_mut().push(format!("foo({name})"))
        })
        .inline_state("_default", move |ctx, args| {
            let ev: String = args.get(ARG0).unwrap();
            ctx.heap.borrow_mut().push(format!("default {ev}({name})"));
        })
        .inline_state("_child", move |ctx, _| {
            ctx.heap.borrow_mut().push(format!("child({name})"))
        })
        .inline_state("_stop", move |ctx, _| {
            ctx.heap.borrow_mut().push(format!("stop {name}"))
        })
        .create(host)
        .unwrap();
}

fn run(plan: Plan, term_to_first: bool) -> Vec<String> {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let log: Log = Rc::default();
    create(&mut kernel, plan, log.clone());
    if term_to_first {
        let p = kernel.id_to_session(1).unwrap();
        kernel.signal(p, "TERM", args![]).unwrap();
    }
    kernel.run().unwrap();
    let out = log.borrow().clone();
    out
}

fn child(name: &'static str) -> Plan {
    Plan {
        name,
        bar: true,
        ..Plan::default()
    }
}

/// E.1: a session watching foo and signalling itself in `_start`.
#[test]
fn e1_self_signal() {
    let plan = Plan {
        name: "S",
        watch: vec![("foo", "foo")],
        signal_self: Some("foo"),
        ..Plan::default()
    };
    assert_eq!(run(plan, false), ["enter S", "leave S", "foo(S)", "stop S"]);
}

/// E.2: a parent signals itself foo; its child does not watch foo.
#[test]
fn e2_oblivious_child() {
    let plan = Plan {
        name: "P",
        watch: vec![("foo", "foo")],
        signal_self: Some("foo"),
        children: vec![child("C")],
        ..Plan::default()
    };
    assert_eq!(
        run(plan, false),
        [
            "enter P",
            "enter C",
            "leave C",
            "child(P)",
            "leave P",
            "foo(P)",
            "default bar(C)",
            "stop C",
            "child(P)",
            "stop P"
        ]
    );
}

/// E.3: both watch foo: the child's watcher runs first.
#[test]
fn e3_both_watch_child_first() {
    let mut c = child("C");
    c.watch = vec![("foo", "foo")];
    let plan = Plan {
        name: "P",
        watch: vec![("foo", "foo")],
        signal_self: Some("foo"),
        children: vec![c],
        ..Plan::default()
    };
    let out = run(plan, false);
    assert_eq!(
        out[5..],
        [
            "foo(C)",
            "foo(P)",
            "default bar(C)",
            "stop C",
            "child(P)",
            "stop P"
        ]
    );
}

/// E.4: both watch TERM with no TERM state: `_default` gets it, which does
/// not count as handled, so both stop (child first) and `bar` never fires.
#[test]
fn e4_term_to_default_is_not_handled() {
    let mut c = child("C");
    c.watch = vec![("TERM", "TERM")];
    let plan = Plan {
        name: "P",
        watch: vec![("TERM", "TERM")],
        children: vec![c],
        ..Plan::default()
    };
    let out = run(plan, true);
    assert_eq!(
        out[5..],
        [
            "default TERM(C)",
            "default TERM(P)",
            "stop C",
            "child(P)",
            "stop P"
        ]
    );
}

/// E.5: no TERM watchers anywhere: TERM stops the child, then the parent.
#[test]
fn e5_unwatched_term() {
    let plan = Plan {
        name: "P",
        children: vec![child("C")],
        ..Plan::default()
    };
    let out = run(plan, true);
    assert_eq!(out[5..], ["stop C", "child(P)", "stop P"]);
}

/// E.6 / E.7: P -> C -> G; TERM to P. With C watching, C's `_default` runs
/// first; either way the deepest stops first.
#[test]
fn e6_e7_three_generations() {
    for c_watches in [true, false] {
        let mut c = Plan {
            name: "C",
            children: vec![child("G")],
            ..Plan::default()
        };
        if c_watches {
            c.watch = vec![("TERM", "TERM")];
        }
        let plan = Plan {
            name: "P",
            children: vec![c],
            ..Plan::default()
        };
        let out = run(plan, true);
        let tail: Vec<&str> = out
            .iter()
            .skip_while(|l| !l.starts_with("leave P"))
            .skip(1)
            .map(String::as_str)
            .collect();
        let mut want = vec!["stop G", "child(C)", "stop C", "child(P)", "stop P"];
        if c_watches {
            want.insert(0, "default TERM(C)");
        }
        assert_eq!(tail, want);
    }
}

/// z_steinert: `signal(kernel, MOO => 99)` before run() reaches every
/// watcher with ARG0 'MOO' and ARG1 99.
#[test]
fn signal_to_kernel_reaches_every_watcher_with_args() {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let log: Log = Rc::default();
    for _ in 0..2 {
        Session::new(log.clone())
            .inline_state("_start", |ctx, _| ctx.sig("MOO", "got_signal"))
            .inline_state("got_signal", |ctx, args| {
                let line = format!(
                    "{} {}",
                    args.get::<&str>(ARG0).unwrap(),
                    args.get::<i64>(ARG1).unwrap()
                );
                ctx.heap.borrow_mut().push(line);
            })
            .create(&mut kernel)
            .unwrap();
    }
    kernel
        .signal(rpoe::SessionId::KERNEL, "MOO", args![99])
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["MOO 99", "MOO 99"]);
}
