//! Port of POE's reference trace `01_lifecycle.pl` (kept in
//! `tests/traces/`): `_start` / `_child(create)` order inside create,
//! `_start`'s SENDER, return values carried in `_child`'s ARG2, GC of idle
//! sessions, `_stop` / `_child(lose)` order, re-parenting (`_child gain` +
//! `_parent`) when a parent is stopped by an unhandled TERM, `detach_myself`
//! and `detach_child`, and LIFO GC order.
//!
//! Run: `cargo run --example trace_01_lifecycle`. It prints the same trace as
//! POE 1.370, except the lines listed in `tests/traces/01_lifecycle.differences`.

#[macro_use]
pub(crate) mod common;
use common::sname;

use rpoe::{args, Args, Ctx, Kernel, Session, SessionId, Value, ARG0, ARG1, ARG2};

/// Arguments joined by spaces, as Perl interpolates `"@_[ARG0..$#_]"`.
fn joined(args: &Args) -> String {
    args.iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Default)]
struct Heap {
    s: Option<SessionId>,
}

/// The Perl script's `handlers($name, start => sub {...})`: the lifecycle
/// handlers every session of the trace shares.
fn handlers(name: &'static str, start: impl Fn(&mut Ctx<Heap>, &Args) + 'static) -> Session<Heap> {
    Session::new(Heap::default())
        .inline_state("_start", move |ctx, args| {
            T!(
                "{name} _start id={} sender={} args=({})",
                ctx.session().id(),
                sname(ctx.sender()),
                joined(&args)
            );
            start(ctx, &args);
            format!("ret_start_{name}")
        })
        .inline_state("_stop", move |ctx, _| {
            T!("{name} _stop sender={}", sname(ctx.sender()));
            format!("ret_stop_{name}")
        })
        .inline_state("_child", move |ctx, args| {
            T!(
                "{name} _child {} child={} ret={} nargs={} sender={}",
                args.get::<&str>(ARG0)?,
                sname(args.get(ARG1)?),
                args.get::<&Value>(ARG2)
                    .map_or("undef".to_owned(), Value::to_string),
                args.len(),
                sname(ctx.sender())
            );
            Ok::<_, rpoe::ArgError>(())
        })
        .inline_state("_parent", move |ctx, args| {
            T!(
                "{name} _parent old={} new={} sender={}",
                sname(args.get(ARG0)?),
                sname(args.get(ARG1)?),
                sname(ctx.sender())
            );
            Ok::<_, rpoe::ArgError>(())
        })
}

fn nothing(_: &mut Ctx<Heap>, _: &Args) {}

pub(crate) fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = env_logger::try_init();
    let mut kernel = Kernel::new()?;

    T!("-- scenario 1: nested creation and natural GC");
    handlers("P", |ctx, _| {
        T!("P creating C1");
        let c1 = handlers("C1", |ctx, _| {
            T!("C1 creating G1");
            handlers("G1", |ctx, _| ctx.delay("tick", 0.05, args![]))
                .inline_state("tick", |_, _| T!("G1 tick"))
                .create(ctx)
                .unwrap();
            T!("C1 done creating G1");
        })
        .create(ctx)
        .unwrap();
        T!("P create() returned SessionId id={}", c1.id());
        handlers("C2", nothing).create(ctx).unwrap();
        T!("P leaving _start");
    })
    .args(args!["a1", "a2"])
    .create(&mut kernel)?;
    T!("before run");
    kernel.run()?;
    T!("after run");

    T!("-- scenario 2: re-parenting (_child gain) when a parent is stopped by an");
    T!("   unhandled TERM while it owns a child created during the signal dispatch");
    handlers("A", |ctx, _| {
        handlers("B", |ctx, _| {
            ctx.sig("TERM", "got_term");
            ctx.delay("never", 10.0, args![]);
        })
        .inline_state("got_term", |ctx, args| {
            T!("B got_term ARG0={} (not handled)", args.get::<&str>(ARG0)?);
            handlers("D", |ctx, _| ctx.delay("d_tick", 0.05, args![]))
                .inline_state("d_tick", |ctx, _| {
                    let parent = ctx.get_parent(ctx.session()).unwrap_or(SessionId::KERNEL);
                    T!("D d_tick parent={}", sname(parent));
                })
                .create(ctx)?;
            Ok::<_, Box<dyn std::error::Error>>(())
        })
        .inline_state("never", |_, _| T!("B never (should not happen)"))
        .create(ctx)
        .unwrap();
        ctx.delay("a_tick", 0.1, args![]);
        ctx.yield_("send_term", args![]);
    })
    .inline_state("send_term", |ctx, _| {
        T!("A sending TERM to B");
        let b = ctx
            .id_to_session(ctx.session().id() + 1)
            .expect("B is alive");
        ctx.signal(b, "TERM", args![])
    })
    .inline_state("a_tick", |_, _| T!("A a_tick"))
    .create(&mut kernel)?;
    kernel.run()?;
    T!("after run 2");

    T!("-- scenario 3: detach_myself in _start and detach_child later");
    handlers("Q", |ctx, _| {
        handlers("R", |ctx, _| {
            T!("R detach_myself -> {}", ctx.detach_myself().is_ok() as i32);
            let again = ctx.detach_myself();
            T!(
                "R detach_myself again -> {} errno={}",
                again.is_ok() as i32,
                again.err().map_or(0, |e| e.errno())
            );
        })
        .create(ctx)
        .unwrap();
        let s = handlers("S", |ctx, _| ctx.delay("s_tick", 0.05, args![]))
            .inline_state("s_tick", |_, _| T!("S s_tick"))
            .create(ctx)
            .unwrap();
        ctx.heap.s = Some(s);
        ctx.yield_("detach", args![]);
    })
    .inline_state("detach", |ctx, _| {
        let s = ctx.heap.s.expect("set in _start");
        T!(
            "Q detach_child(S) -> {}",
            ctx.detach_child(s).is_ok() as i32
        );
    })
    .create(&mut kernel)?;
    kernel.run()?;
    T!("after run 3");
    Ok(())
}
