//! Port of POE's reference trace `03_alarms.pl` (kept in `tests/traces/`):
//! return values of the alarm/delay family, alarm ids, `alarm_adjust` /
//! `delay_adjust`, `alarm_remove` and its errors, past-due alarms running
//! before queued posts, equal due times in insertion order, `delay(0)`
//! between two yields, `alarm()` replacing same-name timers, and
//! `alarm_remove_all`.
//!
//! It runs on a virtual clock, so its half-second delays take no real time
//! and the trace is the same on every run. Run:
//! `cargo run --example trace_03_alarms`. It prints POE 1.370's trace except
//! the lines listed in `tests/traces/03_alarms.differences`.

#[macro_use]
pub(crate) mod common;
use common::defined;

use std::time::{SystemTime, UNIX_EPOCH};

use rpoe::{args, AlarmId, Error, Kernel, Session, Value, ARG0};

/// The other session's alarm, which the main session tries to touch.
#[derive(Default)]
struct Main {
    other_alarm: Option<AlarmId>,
}

pub(crate) fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = env_logger::try_init();
    let wall = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let mut kernel = Kernel::new_virtual(wall)?;

    let other = Session::new(None::<AlarmId>)
        .inline_state("_start", |ctx, _| {
            ctx.alias_set("other").unwrap();
            let t = ctx.time() + 1000.0;
            *ctx.heap = Some(ctx.kernel.alarm_set("other_ev", t, args!["x"]));
        })
        .inline_state("other_ev", |_, _| T!("other_ev (unexpected)"))
        .inline_state("drop", |ctx, _| {
            ctx.alarm_remove_all();
            ctx.alias_remove("other")
        })
        .create(&mut kernel)?;
    let other_alarm = kernel
        .with_heap::<Option<AlarmId>, _>(other, |a| *a)
        .flatten();

    Session::new(Main { other_alarm })
        .inline_state("_start", |ctx, _| {
            let k = &mut ctx.kernel;
            let now = k.time();
            // Return values.
            T!(
                "alarm() returns {:?}",
                k.alarm("a_name", now + 0.2, args!["first"])
            );
            T!(
                "alarm() again (replaces) returns {:?}",
                k.alarm("a_name", now + 0.2, args!["second"])
            );
            T!(
                "alarm_add() returns {:?}",
                k.alarm_add("a_name", now + 0.2, args!["third"])
            );
            T!("delay() returns {:?}", k.delay("d_name", 0.2, args!["d1"]));
            T!(
                "delay_add() returns {:?}",
                k.delay_add("d_name", 0.2, args!["d2"])
            );
            T!("alarm(undef name): not expressible, the name is a required &str");
            let id1 = k.alarm_set("eq_time", 5.0, args!["e1"]); // in the past
            let id2 = k.alarm_set("eq_time", 5.0, args!["e2"]);
            let id3 = k.alarm_set("eq_time", 5.0, args!["e3"]);
            let increase = id2.id() == id1.id() + 1 && id3.id() == id2.id() + 1;
            T!(
                "alarm_set IDs increase: {}",
                if increase { "yes" } else { "no" }
            );
            k.yield_("fifo", args!["y1"]);
            k.alarm_set("past", 1.0, args!["p"]); // earliest due time
            k.delay("zero_delay", 0.0, args!["z"]);
            k.yield_("fifo", args!["y2"]);
            // alarm_adjust / delay_adjust return new absolute times.
            let adj = k.alarm_set("adj", 100.0, args!["adj"]);
            T!("alarm_adjust(+5) -> {}", k.alarm_adjust(adj, 5.0).unwrap());
            T!(
                "alarm_adjust(-10) -> {}",
                k.alarm_adjust(adj, -10.0).unwrap()
            );
            k.alarm_adjust(adj, -94.0).unwrap(); // now due at 1.0 (ties with 'past')
            T!(
                "alarm_adjust on missing id -> {}",
                defined(&k.alarm_adjust(AlarmId::from_id(999_999), 1.0))
            );
            let other = ctx.heap.other_alarm.expect("set by the other session");
            let k = &mut ctx.kernel;
            T!(
                "alarm_adjust on other session's id -> {}",
                defined(&k.alarm_adjust(other, 1.0))
            );
            let dl = k.delay_set("dl", 100.0, args!["dl"]);
            let t = k.delay_adjust(dl, 0.1).unwrap();
            let close = (t - (now + 0.1)).abs() < 0.05;
            T!(
                "delay_adjust(0.1) returns now+0.1? {}",
                if close {
                    "yes".to_owned()
                } else {
                    format!("no ({t} vs {now})")
                }
            );
            // alarm_remove returns the record
            let r = k.alarm_set("rm", 42.0, args!["a", "b"]);
            let l = k.alarm_remove(r).unwrap();
            T!(
                "alarm_remove list -> ({}, {}, {})",
                l.name,
                l.due,
                Value::from(l.args)
            );
            let r2 = k.delay_set("rm2", 50.0, args!["c"]);
            let sc = k.alarm_remove(r2).unwrap();
            let near = (sc.due - (now + 50.0)).abs() < 1.0;
            T!(
                "alarm_remove scalar -> [{}, time_is_now+50={}, {}]",
                sc.name,
                if near { "yes" } else { "no" },
                Value::from(sc.args)
            );
            let again = k.alarm_remove(r);
            T!(
                "alarm_remove again -> {} ESRCH={}",
                defined(&again),
                matches!(again, Err(Error::NoSuchAlarm)) as i32
            );
            let theirs = k.alarm_remove(other);
            T!(
                "alarm_remove other session's -> {} EPERM={}",
                defined(&theirs),
                matches!(theirs, Err(Error::NotPermitted(_))) as i32
            );
            T!("alarm_set(undef time): not expressible, the time is a required f64");
            k.delay("later", 0.5, args![]);
        })
        .inline_state("fifo", |_, args| {
            T!("fifo {}", args.get::<&str>(ARG0).unwrap_or("?"))
        })
        .inline_state("past", |_, args| {
            T!("past {}", args.get::<&str>(ARG0).unwrap_or("?"))
        })
        .inline_state("adj", |_, args| {
            T!(
                "adj (adjusted to t=1) {}",
                args.get::<&str>(ARG0).unwrap_or("?")
            )
        })
        .inline_state("eq_time", |_, args| {
            T!("eq_time {}", args.get::<&str>(ARG0).unwrap_or("?"))
        })
        .inline_state("zero_delay", |_, args| {
            T!("zero_delay {}", args.get::<&str>(ARG0).unwrap_or("?"))
        })
        .inline_state("a_name", |_, args| {
            T!("a_name {}", args.get::<&str>(ARG0).unwrap_or("?"))
        })
        .inline_state("d_name", |_, args| {
            T!("d_name {}", args.get::<&str>(ARG0).unwrap_or("?"))
        })
        .inline_state("dl", |_, _| T!("dl (delay_adjusted to 0.1s)"))
        .inline_state("later", |ctx, _| {
            ctx.alarm_set("keep1", 3000.0, args!["k1", "k2"]);
            ctx.delay_set("keep2", 2000.0, args![]);
            let all = ctx.alarm_remove_all();
            let first = &all[0];
            let mut fields = vec![first.name.to_string(), first.due.to_string()];
            fields.extend(first.args.iter().map(Value::to_string));
            T!(
                "alarm_remove_all count={} first=[{}]",
                all.len(),
                fields.join(",")
            );
            T!("   (note: rpoe keeps each record's params in RemovedAlarm::args; joined here)");
            ctx.delay_set("final", 0.3, args![]);
            ctx.post("other", "drop", args![])
        })
        .inline_state("final", |_, _| T!("final"))
        .create(&mut kernel)?;
    kernel.run()?;
    T!("done");
    Ok(())
}
