//! Kernel benchmarks: rpoe against a plain-Rust floor, in the same run.
//!
//! Four shapes, one of them in two forms (issue: "A first benchmark"):
//! - `yield`: one session yields to itself N times;
//! - `post_pingpong`: two sessions post an event back and forth N times,
//!   each replying to its SENDER (`post_pingpong/alias`: one side posts
//!   to the other's alias, and its floor looks the name up too);
//! - `call`: one session calls another N times;
//! - `create_stop`: N sessions created, then stopped by the GC.
//!
//! The floor for each shape is the least a named-event loop can do: a
//! `VecDeque` of `(session, name, arg)` events dispatched through a
//! `HashMap<&str, Box<dyn Fn>>` of handlers per session, with a heap per
//! session. Run with `cargo bench --bench kernel`; after criterion's own
//! report, a table prints each shape's time per event and its ratio to the
//! floor measured in the same run, sampled over several processes (see
//! `ratio_table`). `target/release/deps/kernel-* nomatch` prints the table
//! alone.

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use rpoe::{args, Kernel, Session, ARG0};

#[path = "common/processes.rs"]
mod processes;

const YIELDS: u64 = 1_000_000;
const PINGPONGS: u64 = 200_000;
const CALLS: u64 = 200_000;
const SESSIONS: u64 = 100_000;

// ---------------------------------------------------------------- rpoe

fn rpoe_yield(n: u64) {
    let mut kernel = Kernel::new().unwrap();
    Session::new(0u64)
        .inline_state("_start", |ctx, _| ctx.yield_("tick", args![]))
        .inline_state("tick", move |ctx, _| {
            *ctx.heap += 1;
            if *ctx.heap < n {
                ctx.yield_("tick", args![]);
            }
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
}

fn rpoe_pingpong(n: u64) {
    rpoe_pingpong_with(n, false);
}

fn rpoe_pingpong_alias(n: u64) {
    rpoe_pingpong_with(n, true);
}

/// Two sessions post an event back and forth. The first post finds the
/// other session by its alias; after that each side replies to its SENDER
/// (an id, as the floor's events name their session by index), unless
/// `by_alias`, where the "pong" side posts to the alias every time (its
/// floor resolves a name too).
fn rpoe_pingpong_with(n: u64, by_alias: bool) {
    let mut kernel = Kernel::new().unwrap();
    Session::new(())
        .inline_state("_start", |ctx, _| ctx.alias_set("pong").unwrap())
        .inline_state("ping", |ctx, args| {
            let i: i64 = args.get(ARG0)?;
            let sender = ctx.sender();
            ctx.post(sender, "pong", args![i])?;
            Ok::<_, rpoe::Error>(())
        })
        .inline_state("done", |ctx, _| ctx.alias_remove("pong"))
        .create(&mut kernel)
        .unwrap();
    Session::new(())
        .inline_state("_start", |ctx, _| {
            ctx.post("pong", "ping", args![0]).unwrap()
        })
        .inline_state("pong", move |ctx, args| {
            let i: i64 = args.get(ARG0)?;
            let next = if i as u64 + 1 < n { "ping" } else { "done" };
            if by_alias {
                ctx.post("pong", next, args![i + 1])?;
            } else {
                let sender = ctx.sender();
                ctx.post(sender, next, args![i + 1])?;
            }
            Ok::<_, rpoe::Error>(())
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
}

fn rpoe_call(n: u64) {
    let mut kernel = Kernel::new().unwrap();
    let b = Session::new(0i64)
        .inline_state("_start", |_, _| ())
        .inline_state("add", |ctx, args| {
            *ctx.heap += args.get::<i64>(ARG0)?;
            Ok::<_, rpoe::ArgError>(*ctx.heap)
        })
        .create(&mut kernel)
        .unwrap();
    Session::new(())
        .inline_state("_start", move |ctx, _| {
            for i in 0..n as i64 {
                black_box(ctx.call(b, "add", args![i]).unwrap());
            }
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
}

fn rpoe_create_stop(n: u64) {
    let mut kernel = Kernel::new().unwrap();
    for _ in 0..n {
        Session::new(0u64)
            .inline_state("_start", |ctx, _| *ctx.heap = 1)
            .inline_state("_stop", |ctx, _| black_box(*ctx.heap))
            .create(&mut kernel)
            .unwrap();
    }
    kernel.run().unwrap();
}

// --------------------------------------------------------------- floor

struct FloorEvent {
    dest: usize,
    name: &'static str,
    arg: u64,
}

type FloorHandler = Box<dyn Fn(&mut u64, &mut VecDeque<FloorEvent>, usize, u64) -> u64>;

struct FloorSession {
    heap: u64,
    handlers: HashMap<&'static str, FloorHandler>,
}

fn floor_session(handlers: Vec<(&'static str, FloorHandler)>) -> FloorSession {
    FloorSession {
        heap: 0,
        handlers: handlers.into_iter().collect(),
    }
}

fn floor_run(sessions: &mut [FloorSession], queue: &mut VecDeque<FloorEvent>) {
    while let Some(ev) = queue.pop_front() {
        let s = &mut sessions[ev.dest];
        if let Some(h) = s.handlers.get(ev.name) {
            h(&mut s.heap, queue, ev.dest, ev.arg);
        }
    }
}

fn floor_yield(n: u64) {
    let tick: FloorHandler = Box::new(move |heap, q, me, _| {
        *heap += 1;
        if *heap < n {
            q.push_back(FloorEvent {
                dest: me,
                name: "tick",
                arg: 0,
            });
        }
        0
    });
    let mut sessions = vec![floor_session(vec![("tick", tick)])];
    let mut q = VecDeque::new();
    q.push_back(FloorEvent {
        dest: 0,
        name: "tick",
        arg: 0,
    });
    floor_run(&mut sessions, &mut q);
}

fn floor_pingpong(n: u64) {
    floor_pingpong_with(n, None);
}

fn floor_pingpong_alias(n: u64) {
    let aliases: HashMap<&'static str, usize> = [("pong", 0)].into_iter().collect();
    floor_pingpong_with(n, Some(aliases));
}

/// The floor's ping-pong: session 0 answers "ping" with "pong" to session
/// 1, which answers with "ping" to session 0, found by its index, or, with
/// an alias table, by looking its name up there on every post (as
/// rpoe's "pong" side does in `post_pingpong/alias`).
fn floor_pingpong_with(n: u64, aliases: Option<HashMap<&'static str, usize>>) {
    let ping: FloorHandler = Box::new(|_, q, _, i| {
        q.push_back(FloorEvent {
            dest: 1,
            name: "pong",
            arg: i,
        });
        0
    });
    let pong: FloorHandler = Box::new(move |_, q, _, i| {
        if i + 1 < n {
            let dest = match &aliases {
                Some(aliases) => aliases["pong"],
                None => 0,
            };
            q.push_back(FloorEvent {
                dest,
                name: "ping",
                arg: i + 1,
            });
        }
        0
    });
    let mut sessions = vec![
        floor_session(vec![("ping", ping)]),
        floor_session(vec![("pong", pong)]),
    ];
    let mut q = VecDeque::new();
    q.push_back(FloorEvent {
        dest: 0,
        name: "ping",
        arg: 0,
    });
    floor_run(&mut sessions, &mut q);
}

fn floor_call(n: u64) {
    let add: FloorHandler = Box::new(|heap, _, _, i| {
        *heap += i;
        *heap
    });
    let mut sessions = [floor_session(vec![("add", add)])];
    let mut q = VecDeque::new();
    for i in 0..n {
        let s = &mut sessions[0];
        black_box(s.handlers["add"](&mut s.heap, &mut q, 0, i));
    }
}

fn floor_create_stop(n: u64) {
    let mut q = VecDeque::new();
    let mut sessions = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let start: FloorHandler = Box::new(|heap, _, _, _| {
            *heap = 1;
            0
        });
        let stop: FloorHandler = Box::new(|heap, _, _, _| black_box(*heap));
        let mut s = floor_session(vec![("_start", start), ("_stop", stop)]);
        s.handlers["_start"](&mut s.heap, &mut q, 0, 0);
        sessions.push(s);
    }
    while let Some(mut s) = sessions.pop() {
        s.handlers["_stop"](&mut s.heap, &mut q, 0, 0);
    }
}

// ------------------------------------------------------------- harness

struct Shape {
    name: &'static str,
    events: u64,
    rpoe: fn(u64),
    floor: fn(u64),
}

const SHAPES: [Shape; 5] = [
    Shape {
        name: "yield",
        events: YIELDS,
        rpoe: rpoe_yield,
        floor: floor_yield,
    },
    Shape {
        name: "post_pingpong",
        events: PINGPONGS,
        rpoe: rpoe_pingpong,
        floor: floor_pingpong,
    },
    Shape {
        name: "post_pingpong/alias",
        events: PINGPONGS,
        rpoe: rpoe_pingpong_alias,
        floor: floor_pingpong_alias,
    },
    Shape {
        name: "call",
        events: CALLS,
        rpoe: rpoe_call,
        floor: floor_call,
    },
    Shape {
        name: "create_stop",
        events: SESSIONS,
        rpoe: rpoe_create_stop,
        floor: floor_create_stop,
    },
];

fn kernel_benches(c: &mut Criterion) {
    for shape in &SHAPES {
        let mut group = c.benchmark_group(shape.name);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        group.bench_function("rpoe", |b| b.iter(|| (shape.rpoe)(shape.events)));
        group.bench_function("floor", |b| b.iter(|| (shape.floor)(shape.events)));
        group.finish();
    }
}

criterion_group!(benches, kernel_benches);

/// Processes the ratio table samples (see [`ratio_table`]).
const PROCESSES: usize = 9;
/// Interleaved rounds of rpoe and floor in each process.
const ROUNDS: usize = 5;

/// The ratio table: each shape's time per event in rpoe and in the floor,
/// measured in `PROCESSES` fresh processes, each running `ROUNDS`
/// interleaved rounds and reporting its medians (see
/// `benches/common/processes.rs` for why several processes). The ratio
/// shown is the median of the processes' own ratios, with their range.
fn ratio_table() {
    let names: Vec<&str> = SHAPES.iter().map(|s| s.name).collect();
    let Some(per_shape) = processes::sample(PROCESSES, &names) else {
        return;
    };
    println!(
        "\nrpoe vs plain-Rust floor (VecDeque + HashMap): {PROCESSES} processes x {ROUNDS} interleaved rounds;"
    );
    println!("each process's medians, then the median over processes (range over processes);");
    println!("ns/ev is per event, except in the post_pingpong rows: per round trip (two events):");
    println!(
        "{:<19} {:>9} {:>18} {:>18} {:>19}",
        "shape", "events", "rpoe ns/ev", "floor ns/ev", "ratio"
    );
    for (shape, samples) in SHAPES.iter().zip(&per_shape) {
        if samples.is_empty() {
            println!("{:<19} no process reported", shape.name);
            continue;
        }
        let (r, f, q) = processes::spreads(samples);
        println!(
            "{:<19} {:>9} {} {} {}",
            shape.name,
            shape.events,
            r.ns(),
            f.ns(),
            q.ratio(),
        );
    }
}

/// One process of the ratio table: `ROUNDS` interleaved rounds of each
/// shape, reported as medians per event.
fn ratio_child(child: usize) {
    processes::on_child_stack(child, &|| {
        for shape in &SHAPES {
            let (mut r, mut f) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                let t = Instant::now();
                (shape.rpoe)(shape.events);
                r.push(t.elapsed().as_nanos() as f64 / shape.events as f64);
                let t = Instant::now();
                (shape.floor)(shape.events);
                f.push(t.elapsed().as_nanos() as f64 / shape.events as f64);
            }
            processes::report(
                shape.name,
                processes::median_of(r.into_iter()),
                processes::median_of(f.into_iter()),
            );
        }
    });
}

fn main() {
    // `cargo test --benches` runs bench binaries in test mode: keep that quick.
    if std::env::args().any(|a| a == "--test") {
        // RPOE_BENCH_N and RPOE_BENCH_SHAPE size and pick the run, and
        // RPOE_BENCH_SIDE (rpoe or floor) one contender, for profiling
        // (valgrind --tool=callgrind target/release/deps/kernel-* --test).
        let n = std::env::var("RPOE_BENCH_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        let only = std::env::var("RPOE_BENCH_SHAPE").ok();
        let side = std::env::var("RPOE_BENCH_SIDE").ok();
        for shape in SHAPES
            .iter()
            .filter(|s| only.as_deref().map_or(true, |o| o == s.name))
        {
            if side.as_deref() != Some("floor") {
                (shape.rpoe)(n);
            }
            if side.as_deref() != Some("rpoe") {
                (shape.floor)(n);
            }
        }
        return;
    }
    if let Some(child) = processes::child_index() {
        ratio_child(child);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratio_table();
}
