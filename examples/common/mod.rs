//! Helpers shared by the trace examples, as `common.pl` is by the Perl
//! scripts: `T!` prints one trace line, `sname` names a session.
//!
//! A test can [`capture`] the lines instead of printing them, so the trace
//! tests run the ports in-process.

use std::cell::RefCell;

use rpoe::SessionId;

thread_local! {
    static CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Prints a trace line, or records it while [`capture`] runs.
pub fn line(s: String) {
    CAPTURE.with(|c| match c.borrow_mut().as_mut() {
        Some(lines) => lines.push(s),
        None => println!("{s}"),
    })
}

/// Runs `f` and returns the trace lines it produced on this thread.
#[allow(dead_code)]
pub fn capture(f: impl FnOnce()) -> Vec<String> {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    f();
    CAPTURE.with(|c| c.borrow_mut().take().unwrap_or_default())
}

/// Session display name: `S<id>`, or `KERNEL`.
#[allow(dead_code)]
pub fn sname(s: SessionId) -> String {
    if s.is_kernel() {
        "KERNEL".to_owned()
    } else {
        format!("S{}", s.id())
    }
}

/// Perl's `defined(...) ? 'defined' : 'undef'` for a kernel call's result.
#[allow(dead_code)]
pub fn defined<T>(r: &Result<T, rpoe::Error>) -> &'static str {
    if r.is_ok() {
        "defined"
    } else {
        "undef"
    }
}

/// The Perl scripts' `T(...)`: one line of the trace.
macro_rules! T {
    ($($arg:tt)*) => { common::line(format!($($arg)*)) };
}
