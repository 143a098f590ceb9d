//! POE::Test::Loops `k_alarms` scenarios (SPEC §12.C) and the regression
//! leolo-alarm-adjust, on the virtual clock (no real time passes), plus the
//! virtual clock's own guarantees.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use rpoe::{args, AlarmId, Ctx, Kernel, Session, Value, ARG0};

type Log = Rc<RefCell<Vec<String>>>;

/// A session that runs `setup` in `_start` and logs every `ring` with ARG0.
fn ringer(kernel: &mut Kernel, setup: impl Fn(&mut Ctx<Log>) + 'static) -> Log {
    let log: Log = Rc::default();
    Session::new(log.clone())
        .inline_state("_start", move |ctx, _| setup(ctx))
        .inline_state("ring", |ctx, args| {
            let v = args.value(ARG0).cloned().unwrap_or_default();
            ctx.heap.borrow_mut().push(v.to_string());
        })
        .create(kernel)
        .unwrap();
    log
}

fn run(setup: impl Fn(&mut Ctx<Log>) + 'static) -> Vec<String> {
    let mut kernel = Kernel::new_virtual(1_000_000.0).unwrap();
    let log = ringer(&mut kernel, setup);
    kernel.run().unwrap();
    let out = log.borrow().clone();
    out
}

/// Paths 1-5 (alarm family): one alarm rings once; `alarm` twice keeps only
/// the second; two `alarm_add` ring in order; alarm/alarm_add/alarm/alarm_add
/// keeps the last two; `alarm(name)` with no time cancels.
#[test]
fn alarm_paths() {
    assert_eq!(
        run(|c| {
            let t = c.time();
            c.alarm("ring", t + 0.5, args!["1.1"])
        }),
        ["1.1"]
    );
    assert_eq!(
        run(|c| {
            let t = c.time();
            c.alarm("ring", t + 0.5, args!["2.1"]);
            c.alarm("ring", t + 0.5, args!["2.2"]);
        }),
        ["2.2"]
    );
    assert_eq!(
        run(|c| {
            let t = c.time();
            c.alarm_add("ring", t + 0.5, args!["3.1"]);
            c.alarm_add("ring", t + 0.5, args!["3.2"]);
        }),
        ["3.1", "3.2"]
    );
    assert_eq!(
        run(|c| {
            let t = c.time();
            c.alarm("ring", t + 0.5, args!["4.1"]);
            c.alarm_add("ring", t + 0.5, args!["4.2"]);
            c.alarm("ring", t + 0.5, args!["4.3"]);
            c.alarm_add("ring", t + 0.5, args!["4.4"]);
        }),
        ["4.3", "4.4"]
    );
    assert_eq!(
        run(|c| {
            let t = c.time();
            c.alarm("ring", t + 0.5, args!["5.1"]);
            c.alarm_clear("ring");
        }),
        Vec::<String>::new()
    );
}

/// Paths 6-10 (delay family), path 9 with an epoch in 1970: still ordered.
#[test]
fn delay_paths() {
    assert_eq!(run(|c| c.delay("ring", 0.5, args!["6.1"])), ["6.1"]);
    assert_eq!(
        run(|c| {
            c.delay("ring", 0.5, args!["7.1"]);
            c.delay("ring", 0.5, args!["7.2"]);
        }),
        ["7.2"]
    );
    assert_eq!(
        run(|c| {
            c.delay_add("ring", 0.5, args!["8.1"]);
            c.delay_add("ring", 0.5, args!["8.2"]);
        }),
        ["8.1", "8.2"]
    );
    assert_eq!(
        run(|c| {
            c.alarm("ring", 0.5, args!["9.1"]); // 1970
            c.delay_add("ring", 0.5, args!["9.2"]);
            c.alarm("ring", 0.5, args!["9.3"]);
            c.delay_add("ring", 0.5, args!["9.4"]);
        }),
        ["9.3", "9.4"]
    );
    assert_eq!(
        run(|c| {
            c.delay("ring", 0.5, args!["10.1"]);
            c.delay_clear("ring");
        }),
        Vec::<String>::new()
    );
}

/// The id API: `alarm_set` + `alarm_remove` give (name, time, args); the
/// adjust sequences of tests 18-22 return POE's times; with 100 filler
/// alarms removed afterwards, the survivors (all past-due) fire in the order
/// 21, 18, 20, 19, 22.
#[test]
fn alarm_ids_adjust_and_order() {
    let out = run(|c| {
        let id = c.alarm_set("test_14", 1.0, args![14]);
        let r = c.alarm_remove(id).unwrap();
        assert_eq!(
            (r.name.as_str(), r.due, r.args.as_slice()),
            ("test_14", 1.0, &[Value::Int(14)][..])
        );
        let t = c.time();
        let id = c.delay_set("test_15", 0.5, args![15]);
        let r = c.alarm_remove(id).unwrap();
        assert!(r.due >= t && r.due <= t + 3.0);
        c.delay_set("test_16", 1.0, args![]);
        c.delay_set("test_17", 1.0, args![]);
        assert_eq!(c.alarm_remove_all().len(), 2);

        let adjust = |c: &mut Ctx<Log>, id: AlarmId, d: f64| c.alarm_adjust(id, d).unwrap();
        let t18 = c.alarm_set("ring", 50.0, args![18]);
        assert_eq!((adjust(c, t18, -1.0), adjust(c, t18, 1.0)), (49.0, 50.0));
        let t19 = c.alarm_set("ring", 52.0, args![19]);
        assert_eq!((adjust(c, t19, -4.0), adjust(c, t19, 4.0)), (48.0, 52.0));
        let t20 = c.alarm_set("ring", 49.0, args![20]);
        assert_eq!(
            (
                adjust(c, t20, 2.0),
                adjust(c, t20, 2.0),
                adjust(c, t20, -2.0)
            ),
            (51.0, 53.0, 51.0)
        );
        let fillers: Vec<AlarmId> = (1..=100)
            .map(|i| c.alarm_set("filler", i as f64, args![]))
            .collect();
        let t21 = c.alarm_set("ring", 50.0, args![21]);
        assert_eq!(
            (
                adjust(c, t21, -10.0),
                adjust(c, t21, 20.0),
                adjust(c, t21, -100.0)
            ),
            (40.0, 60.0, -40.0)
        );
        let t22 = c.alarm_set("ring", 50.0, args![22]);
        assert_eq!(adjust(c, t22, 100.0), 150.0);
        for f in fillers {
            c.alarm_remove(f).unwrap();
        }
    });
    assert_eq!(out, ["21", "18", "20", "19", "22"]);
}

/// leolo-alarm-adjust: an alarm 10 s out adjusted by -9 and a delay of 10 s
/// adjusted to 1 s both fire within 2 s.
#[test]
fn adjusted_timers_fire_early() {
    let mut kernel = Kernel::new_virtual(1_000_000.0).unwrap();
    let log = ringer(&mut kernel, |c| {
        let t = c.time();
        let a = c.alarm_set("ring", t + 10.0, args!["alarm"]);
        let d = c.delay_set("ring", 10.0, args!["delay"]);
        c.delay_adjust(d, 1.0).unwrap();
        c.alarm_adjust(a, -9.0).unwrap();
    });
    kernel.run_until_idle().unwrap();
    kernel.advance(Duration::from_secs(2)).unwrap();
    // Both are due at exactly now+1 on the virtual clock; equal due times
    // keep the order in which they were (re)inserted: the delay first.
    assert_eq!(*log.borrow(), ["delay", "alarm"]);
    assert_eq!(kernel.session_count(), 0);
}

/// advance() fires every deadline on the way in order, including timers
/// that handlers set during the advance, each at its own time.
#[test]
fn advance_steps_through_deadlines() {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let log: Log = Rc::default();
    Session::new(log.clone())
        .inline_state("_start", |ctx, _| {
            ctx.delay("a", 1.0, args![]);
            ctx.delay("c", 3.0, args![]);
        })
        .inline_state("a", |ctx, _| {
            ctx.heap.borrow_mut().push(format!("a@{}", ctx.time()));
            ctx.delay("b", 1.0, args![]); // due at 2, before c
        })
        .inline_state("b", |ctx, _| {
            ctx.heap.borrow_mut().push(format!("b@{}", ctx.time()))
        })
        .inline_state("c", |ctx, _| {
            ctx.heap.borrow_mut().push(format!("c@{}", ctx.time()))
        })
        .create(&mut kernel)
        .unwrap();
    kernel.advance(Duration::from_millis(2500)).unwrap();
    assert_eq!(*log.borrow(), ["a@1", "b@2"]);
    assert_eq!(kernel.now(), Duration::from_millis(2500));
    assert_eq!(kernel.next_deadline(), Some(Duration::from_secs(3)));
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["a@1", "b@2", "c@3"]);
}

/// Re-arming an idle timeout on every input (remove + set, many times)
/// keeps timer storage proportional to the live timers, and an hour-long
/// program on virtual time takes no real time.
#[test]
fn rearming_keeps_storage_flat() {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let started = std::time::Instant::now();
    let id = Session::new(None::<AlarmId>)
        .inline_state("_start", |ctx, _| {
            for _ in 0..100_000 {
                if let Some(old) = ctx.heap.take() {
                    ctx.kernel.alarm_remove(old).unwrap();
                }
                *ctx.heap = Some(ctx.kernel.delay_set("timeout", 3600.0, args![]));
            }
            assert_eq!(ctx.get_event_count(), 1);
        })
        .inline_state("timeout", |_, _| ())
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert!(kernel.id_to_session(id.id()).is_none());
    assert_eq!(kernel.now(), Duration::from_secs(3600));
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// k_alarms queue order: 600 pseudo-random alarms at epochs 1..299 mixed
/// with named ones; three at 25 (the first and last adjusted by -/+0.01),
/// three at 205 adjusted to 204.99 / 205 / 205.01, and one every 25 from 50
/// to 350. Clearing the random ones by name leaves the named ones, which
/// (all past-due) fire in due order, equal times in the order set.
#[test]
fn queue_order_survives_mass_clearing() {
    let out = run(|c| {
        let mut x: u64 = 12345;
        let mut random = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            1.0 + ((x >> 33) % 299) as f64
        };
        for _ in 0..300 {
            let t = random();
            c.alarm_add("random", t, args![]);
        }
        let a = c.alarm_set("ring", 25.0, args!["025_1"]);
        c.alarm_set("ring", 25.0, args!["025_2"]);
        let b = c.alarm_set("ring", 25.0, args!["025_3"]);
        c.alarm_adjust(a, -0.01).unwrap();
        c.alarm_adjust(b, 0.01).unwrap();
        for t in (50..=350).step_by(25) {
            c.alarm_add("ring", t as f64, args![format!("{t:03}")]);
            let t = random();
            c.alarm_add("random", t, args![]);
        }
        let lo = c.alarm_set("ring", 205.0, args!["204"]);
        c.alarm_set("ring", 205.0, args!["205"]);
        let hi = c.alarm_set("ring", 205.0, args!["206"]);
        c.alarm_adjust(lo, -0.01).unwrap();
        c.alarm_adjust(hi, 0.01).unwrap();
        for _ in 0..287 {
            let t = random();
            c.alarm_add("random", t, args![]);
        }
        c.alarm_clear("random");
        assert_eq!(c.get_event_count(), 19);
    });
    assert_eq!(
        out,
        [
            "025_1", "025_2", "025_3", "050", "075", "100", "125", "150", "175", "200", "204",
            "205", "206", "225", "250", "275", "300", "325", "350"
        ]
    );
}

/// After thousands of timers set, removed and fired (the session's timer
/// list is compacted along the way), `delay(name)` replaces exactly the
/// live timers of that name and `alarm_remove_all` returns exactly the
/// live timers, oldest first.
#[test]
fn timer_bookkeeping_survives_churn() {
    let mut kernel = Kernel::new_virtual(1_000_000.0).unwrap();
    let got: Rc<RefCell<Vec<String>>> = Rc::default();
    let out = got.clone();
    Session::new(Vec::<AlarmId>::new())
        .inline_state("_start", |ctx, _| {
            for i in 0..5_000i64 {
                let id = ctx.kernel.delay_set("far", 1000.0 + i as f64, args![i]);
                if i % 3 == 0 {
                    ctx.kernel.alarm_remove(id).unwrap();
                } else {
                    ctx.heap.push(id);
                }
                // Near timers fire at once, which also releases them.
                ctx.kernel.delay_set("near", 0.0, args![i]);
            }
            ctx.delay_set("check", 1.0, args![]);
        })
        .inline_state("near", |_, _| ())
        .inline_state("check", move |ctx, _| {
            // Replace every "far" timer by name: one is left.
            ctx.delay("far", 5.0, args![-1]);
            let all = ctx.kernel.alarm_remove_all();
            let names: Vec<String> = all
                .iter()
                .map(|a| format!("{}:{}", a.name, a.args.get::<i64>(ARG0).unwrap()))
                .collect();
            *out.borrow_mut() = names;
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*got.borrow(), vec!["far:-1".to_owned()]);
}

/// `alarm_remove_all` returns the live timers in the order they were set,
/// skipping those removed or fired before.
#[test]
fn remove_all_returns_live_timers_in_order() {
    let mut kernel = Kernel::new_virtual(1_000_000.0).unwrap();
    let got: Rc<RefCell<Vec<i64>>> = Rc::default();
    let out = got.clone();
    Session::new(())
        .inline_state("_start", |ctx, _| {
            for i in 0..100i64 {
                let id = ctx.kernel.delay_set("t", 10.0 - (i % 7) as f64, args![i]);
                if i % 4 == 1 {
                    ctx.kernel.alarm_remove(id).unwrap();
                }
            }
            ctx.kernel.delay_set("check", 0.5, args![]);
        })
        .inline_state("check", move |ctx, _| {
            let all = ctx.kernel.alarm_remove_all();
            *out.borrow_mut() = all
                .iter()
                .map(|a| a.args.get::<i64>(ARG0).unwrap())
                .collect();
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let want: Vec<i64> = (0..100).filter(|i| i % 4 != 1).collect();
    assert_eq!(*got.borrow(), want);
}

/// A session stopped with timers pending takes exactly its own timers with
/// it (SPEC §3.5: its events are dropped), and the other session's all
/// fire, in order. The stopped session's list of timer ids also names
/// timers that fired long ago, whose queue slots the other session's
/// timers now use: those must stay. (The kernel finds a stopping session's
/// timers through its own list, not by looking at every queued timer,
/// which made stopping N sessions with a timer each O(N^2).)
#[test]
fn a_stopped_session_takes_only_its_own_timers() {
    let mut kernel = Kernel::new_virtual(1_000_000.0).unwrap();
    let log: Log = Rc::default();
    let l = log.clone();
    let a = Session::new(())
        .inline_state("_start", |ctx, _| {
            for i in 0..100i64 {
                // Fire at once, leaving their slots free for the other's.
                ctx.kernel.delay_set("near", 0.0, args![i]);
                ctx.kernel.delay_set("far", 5.0 + i as f64, args![i]);
            }
        })
        .inline_state("near", |_, _| ())
        .inline_state("far", move |_, args| {
            l.borrow_mut()
                .push(format!("a {}", args.get::<i64>(ARG0).unwrap()));
        })
        .create(&mut kernel)
        .unwrap();
    let l = log.clone();
    Session::new(())
        .inline_state("_start", |ctx, _| {
            ctx.kernel.delay_set("arm", 1.0, args![]);
        })
        .inline_state("arm", move |ctx, _| {
            for i in 0..100i64 {
                ctx.kernel.delay_set("far", 50.0 + i as f64, args![i]);
            }
            ctx.kernel.signal(a, "KILL", args![]).unwrap();
        })
        .inline_state("far", move |_, args| {
            l.borrow_mut()
                .push(format!("b {}", args.get::<i64>(ARG0).unwrap()));
        })
        .create(&mut kernel)
        .unwrap();
    let mut slices = 0;
    while kernel.session_count() == 2 {
        kernel.run_one_timeslice().unwrap();
        slices += 1;
        assert!(slices < 1000, "the first session was not stopped");
    }
    // Its timers (due from 5 seconds on) went with it: the next is the
    // other's first, 50 seconds after the 1 second at which it armed.
    assert_eq!(kernel.next_deadline(), Some(Duration::from_secs(51)));
    kernel.run().unwrap();
    let want: Vec<String> = (0..100).map(|i| format!("b {i}")).collect();
    assert_eq!(*log.borrow(), want);
}
