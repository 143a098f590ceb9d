//! Ratio tables sampled over several processes, shared by the kernel and
//! timer benches.
//!
//! One process's times depend on where its stack lies against its heap,
//! and all its rounds share that layout: the same kernel bench binary read
//! 120 or 210 ns per ping-pong round trip, and its floor 47, 78 or 96 ns,
//! with nothing changed but the stack's offset (`setarch -R` and a shifted
//! stack; BENCHMARKS.md, eleventh pass). So a table runs its bench binary
//! again in fresh processes (`--ratio-child K`), each running interleaved
//! rounds of rpoe and its floor and printing `name rpoe floor` lines of
//! its medians, and prints, per shape, the median over the processes and
//! their range. The randomised address space varies the layout, and each
//! child shifts its stack by a different amount before it runs, so that
//! the sample holds with randomisation off too.

use std::hint::black_box;
use std::process::Command;

/// The child index this process was started with (`--ratio-child K`),
/// if it is one of a table's processes.
pub fn child_index() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == "--ratio-child")?;
    Some(args.get(i + 1).and_then(|c| c.parse().ok()).unwrap_or(0))
}

/// Runs `f` in child `child`'s place on the stack: 0 to 63 frames of
/// padding further down (a different depth for each child).
pub fn on_child_stack(child: usize, f: &dyn Fn()) {
    on_shifted_stack(child * 23 % 64, f);
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

/// What a child prints for one shape: the medians of its rounds.
pub fn report(name: &str, rpoe: f64, floor: f64) {
    println!("{name} {rpoe} {floor}");
}

/// Runs this binary again as `count` children and gathers, per name in
/// `names`, each child's `(rpoe, floor)` medians. A child that fails or
/// does not start is reported and left out; `None` if this binary has no
/// path to run.
pub fn sample(count: usize, names: &[&str]) -> Option<Vec<Vec<(f64, f64)>>> {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            println!("\nratio table skipped: no path to this binary ({e})");
            return None;
        }
    };
    let mut per_name: Vec<Vec<(f64, f64)>> = vec![Vec::new(); names.len()];
    for child in 0..count {
        let out = match Command::new(&exe)
            .arg("--ratio-child")
            .arg(child.to_string())
            .output()
        {
            Ok(out) if out.status.success() => out,
            Ok(out) => {
                println!("ratio child {child} failed: {}", out.status);
                continue;
            }
            Err(e) => {
                println!("ratio child {child} did not start: {e}");
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
            if let Some(i) = names.iter().position(|n| *n == name) {
                per_name[i].push((r, f));
            }
        }
    }
    Some(per_name)
}

/// The median of some values and their range.
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// Of `values`, which must not be empty.
    pub fn of(values: impl Iterator<Item = f64>) -> Spread {
        let v = sorted(values);
        Spread {
            median: median(&v),
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// Nanoseconds: `35.5 (  35-39  )`.
    pub fn ns(&self) -> String {
        format!("{:>6.1} ({:>4.0}-{:<4.0})", self.median, self.min, self.max)
    }

    /// A ratio: `1.99x (1.97-2.23)`.
    pub fn ratio(&self) -> String {
        format!("{:>6.2}x ({:.2}-{:.2})", self.median, self.min, self.max)
    }
}

/// The three spreads of one shape's samples: rpoe's times, the floor's,
/// and the processes' own ratios.
pub fn spreads(samples: &[(f64, f64)]) -> (Spread, Spread, Spread) {
    (
        Spread::of(samples.iter().map(|s| s.0)),
        Spread::of(samples.iter().map(|s| s.1)),
        Spread::of(samples.iter().map(|s| s.0 / s.1)),
    )
}

/// The median of one process's rounds.
pub fn median_of(values: impl Iterator<Item = f64>) -> f64 {
    median(&sorted(values))
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
