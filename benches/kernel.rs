//! Kernel benchmarks: rpoe against a plain-Rust floor, in the same run.
//!
//! Four shapes (issue: "A first benchmark"):
//! - `yield`: one session yields to itself N times;
//! - `post_pingpong`: two sessions post an event back and forth N times;
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
            ctx.post("pong", next, args![i + 1])?;
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
            q.push_back(FloorEvent {
                dest: 0,
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

const SHAPES: [Shape; 4] = [
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
/// measured in `PROCESSES` fresh processes (this binary run again with
/// `--ratio-child`), each running `ROUNDS` interleaved rounds and reporting
/// its medians. One process's times depend on where its stack and heap
/// landed: the same binary reads 120 or 210 ns per ping-pong round trip,
/// and its floor 47, 78 or 96 ns, with nothing changed but the stack's
/// offset (`setarch -R` and a shifted stack). Rounds inside one process
/// all share its layout, so the table samples layouts as well: the
/// randomised address space, plus a stack shifted differently in each
/// child (so that the sample holds with randomisation off too). The
/// ratio shown is the median of the processes' ratios, with their range.
fn ratio_table() {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            println!("\nkernel ratio table skipped: no path to this binary ({e})");
            return;
        }
    };
    // Per shape: (rpoe ns/ev, floor ns/ev) of each process.
    let mut per_shape: Vec<Vec<(f64, f64)>> = vec![Vec::new(); SHAPES.len()];
    for child in 0..PROCESSES {
        let out = match std::process::Command::new(&exe)
            .arg("--ratio-child")
            .arg(child.to_string())
            .output()
        {
            Ok(out) if out.status.success() => out,
            Ok(out) => {
                println!("kernel ratio child {child} failed: {}", out.status);
                continue;
            }
            Err(e) => {
                println!("kernel ratio child {child} did not start: {e}");
                continue;
            }
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut parts = line.split_whitespace();
            let (Some(name), Some(r), Some(f)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let (Ok(r), Ok(f)) = (r.parse::<f64>(), f.parse::<f64>()) else {
                continue;
            };
            if let Some(i) = SHAPES.iter().position(|s| s.name == name) {
                per_shape[i].push((r, f));
            }
        }
    }
    println!(
        "\nrpoe vs plain-Rust floor (VecDeque + HashMap): {PROCESSES} processes x {ROUNDS} interleaved rounds;"
    );
    println!("each process's medians, then the median over processes (range over processes):");
    println!(
        "{:<15} {:>9} {:>18} {:>18} {:>19}",
        "shape", "events", "rpoe ns/ev", "floor ns/ev", "ratio"
    );
    for (shape, samples) in SHAPES.iter().zip(&per_shape) {
        if samples.is_empty() {
            println!("{:<15} no process reported", shape.name);
            continue;
        }
        let r = sorted(samples.iter().map(|s| s.0));
        let f = sorted(samples.iter().map(|s| s.1));
        let q = sorted(samples.iter().map(|s| s.0 / s.1));
        println!(
            "{:<15} {:>9} {:>6.1} ({:>4.0}-{:<4.0}) {:>6.1} ({:>4.0}-{:<4.0}) {:>6.2}x ({:.2}-{:.2})",
            shape.name,
            shape.events,
            median(&r),
            r[0],
            r[r.len() - 1],
            median(&f),
            f[0],
            f[f.len() - 1],
            median(&q),
            q[0],
            q[q.len() - 1],
        );
    }
}

/// One process of the ratio table: `ROUNDS` interleaved rounds of each
/// shape, printed as `name rpoe_ns floor_ns` (medians per event).
fn ratio_child(child: usize) {
    // Each child runs at a different depth of its stack: 0 to 63 frames
    // of `on_shifted_stack` (224 bytes each in the build measured).
    let depth = child * 23 % 64;
    on_shifted_stack(depth, &|| {
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
            let (r, f) = (sorted(r.into_iter()), sorted(f.into_iter()));
            println!("{} {} {}", shape.name, median(&r), median(&f));
        }
    });
}

/// Runs `f` `depth` frames of this function further down the stack (each
/// frame's size is the compiler's choice; at least the 32-byte pad).
#[inline(never)]
fn on_shifted_stack(depth: usize, f: &dyn Fn()) {
    if depth == 0 {
        return f();
    }
    let pad = [0u8; 32];
    black_box(&pad);
    on_shifted_stack(depth - 1, f);
    black_box(&pad);
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The median of sorted values (the mean of the middle two for an even count).
fn median(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // `cargo test --benches` runs bench binaries in test mode: keep that quick.
    if std::env::args().any(|a| a == "--test") {
        // RPOE_BENCH_N and RPOE_BENCH_SHAPE size and pick the run, for profiling
        // (valgrind --tool=callgrind target/release/deps/kernel-* --test).
        let n = std::env::var("RPOE_BENCH_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        let only = std::env::var("RPOE_BENCH_SHAPE").ok();
        for shape in SHAPES
            .iter()
            .filter(|s| only.as_deref().map_or(true, |o| o == s.name))
        {
            (shape.rpoe)(n);
            (shape.floor)(n);
        }
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--ratio-child") {
        ratio_child(args.get(i + 1).and_then(|c| c.parse().ok()).unwrap_or(0));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratio_table();
}
