//! Timer benchmarks: rpoe's alarm/delay family against plain-Rust floors
//! (a `BTreeMap` keyed by `(due, seq)` with an id index, and a
//! `BinaryHeap`), in the same run, and against Perl POE when `perl -MPOE`
//! works (benches/timers_poe.pl).
//!
//! Shapes:
//! - `rearm/N`: remove one timer and set it again (an idle timeout re-armed
//!   on every input) with N = 0, 2, 2000 other timers pending;
//! - `insert_1M`: set (and remove again) one timer with 1,000,000 pending;
//! - `fire_1M`: set 1,000,000 timers at random times, then fire them all
//!   on the virtual clock, each delivered to its session's handler. Its
//!   floor carries each timer's event (session, name, argument) in a
//!   `BinaryHeap` and delivers it through a `HashMap` of handlers, as the
//!   kernel bench's floor does for posts; `fire_1M/pop` compares the same
//!   rpoe figure with the heap alone (`(due, index)` pairs pushed and
//!   popped, nothing delivered), the floor of the earlier passes.
//!
//! Run with `cargo bench --bench timers`; criterion's report comes first,
//! then a table of medians over interleaved rounds, sampled over several
//! processes, with ratios. `target/release/deps/timers-* nomatch` prints
//! the table alone.

use std::cell::RefCell;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::hint::black_box;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use rpoe::{args, AlarmId, Ctx, Kernel, Session, ARG0};

#[path = "common/processes.rs"]
mod processes;

/// Deterministic pseudo-random due times (an LCG), the same for everyone.
fn due_times(n: usize) -> Vec<f64> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 11) as f64 / (1u64 << 53) as f64 * 3600.0
        })
        .collect()
}

#[derive(Default)]
struct Heap {
    timer: Option<AlarmId>,
}

/// A virtual kernel with one session holding `pending` far-away timers.
fn kernel_with(pending: usize) -> (Kernel, rpoe::SessionId) {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let id = Session::new(Heap::default())
        .args(args![pending])
        .inline_state("_start", |ctx: &mut Ctx<Heap>, args| {
            ctx.alias_set("bench").unwrap();
            let n: usize = args.get(ARG0).unwrap();
            for i in 0..n {
                ctx.delay_set("filler", 7200.0 + i as f64, args![]);
            }
            ctx.heap.timer = Some(ctx.kernel.delay_set("timeout", 600.0, args![]));
        })
        .inline_state("rearm", |ctx, args| {
            let m: u64 = args.get(ARG0).unwrap();
            for _ in 0..m {
                let old = ctx.heap.timer.take().unwrap();
                ctx.kernel.alarm_remove(old).unwrap();
                ctx.heap.timer = Some(ctx.kernel.delay_set("timeout", 600.0, args![]));
            }
        })
        .inline_state("insert", |ctx, args| {
            let m: u64 = args.get(ARG0).unwrap();
            for _ in 0..m {
                let id = ctx.kernel.delay_set("one", 1800.0, args![]);
                black_box(ctx.kernel.alarm_remove(id).unwrap());
            }
        })
        .create(&mut kernel)
        .unwrap();
    (kernel, id)
}

/// Runs `m` operations of `event` on a prepared kernel; their time.
fn rpoe_ops(kernel: &mut Kernel, event: &'static str, m: u64) -> Duration {
    kernel.post("bench", event, args![m]).unwrap();
    let t = Instant::now();
    kernel.run_until_idle().unwrap();
    t.elapsed()
}

fn rpoe_fire(n: usize) -> Duration {
    let mut kernel = Kernel::new_virtual(0.0).unwrap();
    let fired = Rc::new(RefCell::new(0u64));
    let times = due_times(n);
    let t = Instant::now();
    Session::new(fired.clone())
        .inline_state("_start", move |ctx, _| {
            for &d in &times {
                ctx.delay_add("tick", d, args![]);
            }
        })
        .inline_state("tick", |ctx, _| *ctx.heap.borrow_mut() += 1)
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let e = t.elapsed();
    assert_eq!(*fired.borrow(), n as u64);
    e
}

/// The BTreeMap floor: what a timer wheel-less loop must do at least.
#[derive(Default)]
struct Floor {
    timers: BTreeMap<(u64, u64), u64>,
    index: HashMap<u64, (u64, u64)>,
    seq: u64,
}

impl Floor {
    fn set(&mut self, due: u64) -> u64 {
        self.seq += 1;
        self.timers.insert((due, self.seq), self.seq);
        self.index.insert(self.seq, (due, self.seq));
        self.seq
    }
    fn remove(&mut self, id: u64) {
        let key = self.index.remove(&id).unwrap();
        self.timers.remove(&key);
    }
}

fn floor_with(pending: usize) -> (Floor, u64) {
    let mut f = Floor::default();
    for i in 0..pending {
        f.set(7_200_000 + i as u64);
    }
    let id = f.set(600_000);
    (f, id)
}

fn floor_rearm(f: &mut Floor, id: &mut u64, m: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..m {
        f.remove(*id);
        *id = f.set(600_000);
    }
    t.elapsed()
}

fn floor_insert(f: &mut Floor, m: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..m {
        let id = f.set(1_800_000);
        f.remove(id);
    }
    t.elapsed()
}

/// A timer of the dispatching floor: its due time and sequence (its
/// order), and the event it fires: a session's index, a name and an
/// argument, as the kernel bench's floor queues events.
struct FloorTimer {
    due: u64,
    seq: u64,
    dest: usize,
    name: &'static str,
    arg: u64,
}

impl PartialEq for FloorTimer {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for FloorTimer {}
impl PartialOrd for FloorTimer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for FloorTimer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// A handler of the dispatching floor: the session's heap and the argument.
type FloorHandler = Box<dyn Fn(&mut u64, u64)>;

/// The dispatching floor for setting and firing: the least a loop of named
/// timer events can do, as the kernel bench's floor is for posts. Each
/// timer carries its event in a `BinaryHeap`, and firing one delivers it
/// through its session's `HashMap` of handlers, as rpoe delivers each
/// fired timer to its session's handler.
fn floor_fire(n: usize) -> Duration {
    let times = due_times(n);
    let t = Instant::now();
    let tick: FloorHandler = Box::new(|heap, _| *heap += 1);
    let mut sessions = [(0u64, HashMap::from([("tick", tick)]))];
    let mut heap = BinaryHeap::with_capacity(n);
    for (i, &d) in times.iter().enumerate() {
        heap.push(std::cmp::Reverse(FloorTimer {
            due: (d * 1e9) as u64,
            seq: i as u64,
            dest: 0,
            name: "tick",
            arg: i as u64,
        }));
    }
    while let Some(std::cmp::Reverse(timer)) = heap.pop() {
        let (state, handlers) = &mut sessions[timer.dest];
        if let Some(h) = handlers.get(timer.name) {
            h(state, timer.arg);
        }
    }
    assert_eq!(sessions[0].0, n as u64);
    t.elapsed()
}

/// The heap alone: setting and popping `(due, index)` pairs, with no
/// event carried or delivered (the floor of the earlier passes).
fn heap_fire(n: usize) -> Duration {
    let times = due_times(n);
    let t = Instant::now();
    let mut heap = BinaryHeap::with_capacity(n);
    for (i, &d) in times.iter().enumerate() {
        heap.push(std::cmp::Reverse(((d * 1e9) as u64, i)));
    }
    let mut fired = 0u64;
    while let Some(x) = heap.pop() {
        black_box(x);
        fired += 1;
    }
    assert_eq!(fired, n as u64);
    t.elapsed()
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for pending in [0usize, 2, 2000] {
        let (mut k, _) = kernel_with(pending);
        k.run_until_idle().unwrap();
        g.bench_function(format!("rearm/{pending}/rpoe"), |b| {
            b.iter_custom(|iters| rpoe_ops(&mut k, "rearm", iters.max(1)))
        });
        let (mut f, mut id) = floor_with(pending);
        g.bench_function(format!("rearm/{pending}/btreemap"), |b| {
            b.iter_custom(|iters| floor_rearm(&mut f, &mut id, iters.max(1)))
        });
    }
    g.finish();
}

criterion_group!(criterion_benches, benches);

/// Nanoseconds per operation of `ops` operations taking `d`.
fn per_op(d: Duration, ops: u64) -> f64 {
    d.as_nanos() as f64 / ops as f64
}

/// Perl POE's figures from benches/timers_poe.pl, if POE is installed.
fn perl_poe() -> Option<HashMap<String, f64>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/timers_poe.pl");
    let out = Command::new("perl").arg(script).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_owned(), v.trim().parse().ok()?))
            })
            .collect(),
    )
}

/// The table's shapes, with the floor each is measured against.
const SHAPES: [(&str, &str); 6] = [
    ("rearm/0", "btree"),
    ("rearm/2", "btree"),
    ("rearm/2000", "btree"),
    ("insert_1M", "btree"),
    ("fire_1M", "heap+map"),
    ("fire_1M/pop", "binheap"),
];
/// Processes the table samples (see `benches/common/processes.rs`).
const PROCESSES: usize = 5;
/// Interleaved rounds of rpoe and floor in each process.
const ROUNDS: usize = 5;
/// The same for fire_1M, whose rounds are longer.
const FIRE_ROUNDS: usize = 3;
/// Operations per round of the re-arming and inserting shapes.
const OPS: u64 = 100_000;
/// Timers set and fired per round of fire_1M.
const FIRED: usize = 1_000_000;

/// The table: each shape's time per operation in rpoe and in its floor,
/// the median over `PROCESSES` processes of each one's medians, with the
/// range over the processes; then Perl POE's figure (one run of
/// benches/timers_poe.pl), where POE is installed.
fn table() {
    let names: Vec<&str> = SHAPES.iter().map(|s| s.0).collect();
    let Some(per_shape) = processes::sample(PROCESSES, &names) else {
        return;
    };
    let poe = perl_poe();
    println!(
        "\nTimers: rpoe vs plain-Rust floors: {PROCESSES} processes x {ROUNDS} interleaved rounds (fire_1M: {FIRE_ROUNDS});"
    );
    println!("each process's medians, then the median over processes (range over processes), ns per operation:");
    println!(
        "{:<11} {:>18} {:>26} {:>19} {:>9} {:>9}",
        "shape", "rpoe", "floor", "ratio", "perl POE", "POE/rpoe"
    );
    for ((name, floor), samples) in SHAPES.iter().zip(&per_shape) {
        if samples.is_empty() {
            println!("{name:<11} no process reported");
            continue;
        }
        let (r, f, q) = processes::spreads(samples);
        // Both fire_1M rows compare the same rpoe figure, and POE's.
        let poe_name = name.trim_end_matches("/pop");
        let p = poe.as_ref().and_then(|p| p.get(poe_name).copied());
        println!(
            "{:<11} {} {} {:<7} {} {:>9} {:>9}",
            name,
            r.ns(),
            f.ns(),
            floor,
            q.ratio(),
            p.map_or("skipped".to_owned(), |p| format!("{p:.0}")),
            p.map_or("-".to_owned(), |p| format!("{:.0}x", p / r.median))
        );
    }
    if poe.is_none() {
        println!("(perl POE: skipped, `perl benches/timers_poe.pl` did not run; apt-get install libpoe-perl)");
    }
}

/// One process of the table: interleaved rounds of each shape, reported
/// as medians per operation.
fn table_child(child: usize) {
    let median = |v: Vec<f64>| processes::median_of(v.into_iter());
    processes::on_child_stack(child, &|| {
        for pending in [0usize, 2, 2000] {
            let (mut k, _) = kernel_with(pending);
            k.run_until_idle().unwrap();
            let (mut f, mut id) = floor_with(pending);
            let (mut r, mut fl) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                r.push(per_op(rpoe_ops(&mut k, "rearm", OPS), OPS));
                fl.push(per_op(floor_rearm(&mut f, &mut id, OPS), OPS));
            }
            processes::report(&format!("rearm/{pending}"), median(r), median(fl));
        }
        {
            let (mut k, _) = kernel_with(1_000_000);
            k.run_until_idle().unwrap();
            let (mut f, _) = floor_with(1_000_000);
            let (mut r, mut fl) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                r.push(per_op(rpoe_ops(&mut k, "insert", OPS), OPS));
                fl.push(per_op(floor_insert(&mut f, OPS), OPS));
            }
            processes::report("insert_1M", median(r), median(fl));
        }
        let (mut r, mut fl, mut pop) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..FIRE_ROUNDS {
            r.push(per_op(rpoe_fire(FIRED), FIRED as u64));
            fl.push(per_op(floor_fire(FIRED), FIRED as u64));
            pop.push(per_op(heap_fire(FIRED), FIRED as u64));
        }
        let r = median(r);
        processes::report("fire_1M", r, median(fl));
        processes::report("fire_1M/pop", r, median(pop));
    });
}

fn main() {
    if std::env::args().any(|a| a == "--test") {
        // RPOE_BENCH_N sizes the run, for profiling
        // (valgrind --tool=callgrind target/release/deps/timers-* --test).
        let n = std::env::var("RPOE_BENCH_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        let (mut k, _) = kernel_with(10);
        k.run_until_idle().unwrap();
        rpoe_ops(&mut k, "rearm", n as u64);
        rpoe_ops(&mut k, "insert", 10);
        let (mut f, mut id) = floor_with(10);
        floor_rearm(&mut f, &mut id, n as u64);
        rpoe_fire(n);
        floor_fire(n);
        heap_fire(n);
        return;
    }
    if let Some(child) = processes::child_index() {
        table_child(child);
        return;
    }
    criterion_benches();
    Criterion::default().configure_from_args().final_summary();
    table();
}
