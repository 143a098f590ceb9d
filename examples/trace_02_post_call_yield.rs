//! Port of POE's reference trace `02_post_call_yield.pl` (kept in
//! `tests/traces/`): FIFO order of post/yield across sessions, synchronous
//! `call` with return values, SENDER and CALLER_STATE on every delivery path,
//! `_default`, missing handlers, error returns of post/call, and a self-call
//! that keeps the active event.
//!
//! Run: `cargo run --example trace_02_post_call_yield`. It prints the same
//! trace as POE 1.370, except the lines listed in
//! `tests/traces/02_post_call_yield.differences`.

#[macro_use]
pub(crate) mod common;
use common::{defined, sname};

use rpoe::{args, Error, Kernel, Session, Value, ARG0, ARG1};

/// `$! == ESRCH ? 1 : 0`.
fn is_esrch<T>(r: &Result<T, Error>) -> i32 {
    matches!(r, Err(Error::NoSuchSession(_))) as i32
}

pub(crate) fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = env_logger::try_init();
    let mut kernel = Kernel::new()?;

    Session::new(())
        .inline_state("_start", |ctx, _| {
            ctx.alias_set("B").unwrap();
            T!("B _start");
        })
        .inline_state("ev", |ctx, args| {
            let arg0: &str = args.get(ARG0)?;
            T!(
                "B ev ARG0={arg0} sender={} caller_state={} active_event={}",
                sname(ctx.sender()),
                ctx.caller_state().unwrap_or("undef"),
                ctx.get_active_event()
            );
            Ok::<_, rpoe::ArgError>(format!("B-ret-{arg0}"))
        })
        .inline_state("listy", |_, _| vec![Value::from(1), 2.into(), 3.into()])
        .inline_state("stop_alias", |ctx, _| ctx.alias_remove("B"))
        .inline_state("_default", |ctx, args| {
            T!(
                "B _default ARG0={} ARG1={} state={}",
                args.get::<&str>(ARG0)?,
                args.get::<&Value>(ARG1)?,
                ctx.state()
            );
            Ok::<_, rpoe::ArgError>("from_default")
        })
        .inline_state("_stop", |_, _| T!("B _stop"))
        .create(&mut kernel)?;

    Session::new(())
        .inline_state("_start", |ctx, _| {
            T!("A _start");
            ctx.post("B", "ev", args!["p1"]).unwrap();
            ctx.yield_("self", args!["y1"]);
            ctx.post("B", "ev", args!["p2"]).unwrap();
            T!(
                "A call returns: {}",
                ctx.call("B", "ev", args!["c1"]).unwrap()
            );
            ctx.yield_("self", args!["y2"]);
            ctx.post("B", "nosuch", args!["x", "y"]).unwrap();
            let r = ctx.post("NOPE", "ev", args![]);
            T!(
                "A post to missing alias -> {} errno_is_ESRCH={}",
                defined(&r),
                is_esrch(&r)
            );
            let r = ctx.call("NOPE", "ev", args![]);
            T!(
                "A call to missing alias -> {} errno_is_ESRCH={}",
                defined(&r),
                is_esrch(&r)
            );
            let l = ctx.call("B", "listy", args![]).unwrap();
            T!(
                "A call list context -> ({})",
                l.as_list().map_or(String::new(), |l| {
                    l.iter().map(Value::to_string).collect::<Vec<_>>().join(" ")
                })
            );
            T!("A call returns a list value -> {l}");
            T!(
                "A call to _default -> {}",
                ctx.call("B", "unknown_ev", args![7]).unwrap()
            );
            ctx.yield_("noop", args![]);
            T!("A yield returns undef");
            T!(
                "A post returns {}",
                ctx.post("B", "ev", args!["p3"]).is_ok() as i32
            );
            ctx.delay("timer", 0.01, args![]);
            ctx.sig("USR1", "usr1");
            let me = ctx.session();
            ctx.signal(me, "USR1", args!["extra"]).unwrap();
            ctx.call(me, "selfcall", args![]).unwrap();
        })
        .inline_state("self", |ctx, args| {
            T!(
                "A self ARG0={} sender={} caller_state={}",
                args.get::<&str>(ARG0)?,
                sname(ctx.sender()),
                ctx.caller_state().unwrap_or("undef")
            );
            Ok::<_, rpoe::ArgError>(())
        })
        .inline_state("noop", |_, _| T!("A noop"))
        .inline_state("selfcall", |ctx, _| {
            T!(
                "A selfcall sender={} caller_state={} active_event={}",
                sname(ctx.sender()),
                ctx.caller_state().unwrap_or("undef"),
                ctx.get_active_event()
            );
            ctx.post("B", "ev", args!["from_selfcall"])
        })
        .inline_state("timer", |ctx, _| {
            T!(
                "A timer sender={} caller_state={}",
                sname(ctx.sender()),
                ctx.caller_state().unwrap_or("undef")
            );
            ctx.post("B", "stop_alias", args![]).unwrap();
            ctx.sig_remove("USR1");
            let me = ctx.session();
            let r = ctx.call(me, "missing", args![]);
            T!("A no handler & no _default, call -> {}", defined(&r));
        })
        .inline_state("usr1", |ctx, args| {
            T!(
                "A usr1 ARG0={} ARG1={} sender={} caller_state={}",
                args.get::<&str>(ARG0)?,
                args.get::<&str>(ARG1)?,
                sname(ctx.sender()),
                ctx.caller_state().unwrap_or("undef")
            );
            Ok::<_, rpoe::ArgError>(())
        })
        .inline_state("_stop", |_, _| T!("A _stop"))
        .create(&mut kernel)?;
    kernel.run()?;
    T!("done");
    Ok(())
}
