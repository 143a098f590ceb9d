//! Fidelity to real POE: the Rust ports of POE's reference trace scripts
//! (examples/trace_*.rs) must print what POE 1.370 printed
//! (tests/traces/*.expected, copied verbatim from the POE runs), except for
//! the lines listed with their reasons in tests/traces/*.differences.

// Each example carries its own copy of examples/common (as a binary it must);
// including two examples here loads that module twice, which is intended.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/trace_01_lifecycle.rs"]
#[allow(dead_code)]
mod trace_01;
#[path = "../examples/trace_02_post_call_yield.rs"]
#[allow(dead_code)]
mod trace_02;
#[path = "../examples/trace_03_alarms.rs"]
#[allow(dead_code)]
mod trace_03;
#[path = "../examples/trace_06_filters.rs"]
#[allow(dead_code)]
mod trace_06;
#[path = "../examples/trace_07_readwrite.rs"]
#[allow(dead_code)]
mod trace_07;

use std::path::Path;

/// The expected trace with the documented differences applied.
fn expected(name: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    let mut lines: Vec<String> = std::fs::read_to_string(dir.join(format!("{name}.expected")))
        .expect("expected trace")
        .lines()
        .map(str::to_owned)
        .collect();
    let diffs =
        std::fs::read_to_string(dir.join(format!("{name}.differences"))).unwrap_or_default();
    let (mut minus, mut plus) = (Vec::<String>::new(), Vec::<String>::new());
    let mut blocks = Vec::new();
    for l in diffs.lines().chain(std::iter::once("")) {
        if let Some(m) = l.strip_prefix("- ") {
            if !plus.is_empty() {
                blocks.push((std::mem::take(&mut minus), std::mem::take(&mut plus)));
            }
            minus.push(m.to_owned());
        } else if let Some(p) = l.strip_prefix("+ ") {
            plus.push(p.to_owned());
        } else if !minus.is_empty() {
            blocks.push((std::mem::take(&mut minus), std::mem::take(&mut plus)));
        }
    }
    for (minus, plus) in blocks {
        let at = lines
            .windows(minus.len())
            .position(|w| w == minus.as_slice())
            .unwrap_or_else(|| {
                panic!("{name}.differences names lines not in the trace: {minus:?}")
            });
        lines.splice(at..at + minus.len(), plus);
    }
    lines
}

fn check(name: &str, got: Vec<String>) {
    let want = expected(name);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{name}: line {} differs", i + 1);
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{name}: trace length differs:\n{got:#?}"
    );
}

/// Trace 01: creation order, `_child` ARG2 return values, GC of idle
/// sessions (LIFO), re-parenting on an unhandled TERM, detach_myself and
/// detach_child.
#[test]
fn trace_01_lifecycle_matches_poe() {
    let got = trace_01::common::capture(|| trace_01::main().unwrap());
    check("01_lifecycle", got);
}

/// Trace 02: FIFO across sessions, call before queued events, SENDER and
/// CALLER_STATE per delivery path, `_default`, self-call.
#[test]
fn trace_02_post_call_yield_matches_poe() {
    let got = trace_02::common::capture(|| trace_02::main().unwrap());
    check("02_post_call_yield", got);
}

/// Trace 03: the alarm/delay family's return values, ids, adjust and
/// remove, past-due alarms before posts, equal due times in order. On a
/// virtual clock: no real time passes.
#[test]
fn trace_03_alarms_matches_poe() {
    let started = std::time::Instant::now();
    let got = trace_03::common::capture(|| trace_03::main().unwrap());
    check("03_alarms", got);
    assert!(
        started.elapsed().as_secs() < 5,
        "virtual time: no real waiting"
    );
}

/// Trace 06: every filter, line by line.
#[test]
fn trace_06_filters_matches_poe() {
    let got = trace_06::common::capture(|| trace_06::main().unwrap());
    check("06_filters", got);
}

/// Trace 07: POE::Wheel::ReadWrite over a socket pair: event arguments
/// and order, CALLER_STATE naming the wheel's states, put's high-water
/// return, watermark events, flush() with an empty buffer, AutoFlush,
/// pause/resume, set_filter re-parsing inside an InputEvent, EOF.
#[test]
fn trace_07_readwrite_matches_poe() {
    let got = trace_07::common::capture(|| trace_07::main().unwrap());
    check("07_readwrite", got);
}

/// The differences files only name lines that exist, and the traces are
/// stable: the same run twice gives the same lines.
#[test]
fn traces_are_stable() {
    let a = trace_02::common::capture(|| trace_02::main().unwrap());
    let b = trace_02::common::capture(|| trace_02::main().unwrap());
    assert_eq!(a, b);
}
