//! The kernel's clock: monotonic time in nanoseconds since the kernel
//! began, from the system or, for deterministic tests, from a manual clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the kernel reads the time. Kernel time is an `i64` of nanoseconds
/// since the kernel was built. The system clock takes it from a monotonic
/// `Instant`, so moving the wall clock never makes a delay fire early or
/// late; the manual clock moves only when the kernel is told to.
#[derive(Debug)]
pub(crate) enum Clock {
    System { epoch: Instant },
    Manual { now: i64, wall_at_start: f64 },
}

/// Seconds since the Unix epoch, now.
fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

impl Clock {
    pub fn system() -> Self {
        Clock::System {
            epoch: Instant::now(),
        }
    }

    /// A manual clock at kernel time 0, whose wall time starts at `wall`.
    pub fn manual(wall: f64) -> Self {
        Clock::Manual {
            now: 0,
            wall_at_start: wall,
        }
    }

    pub fn is_manual(&self) -> bool {
        matches!(self, Clock::Manual { .. })
    }

    /// Kernel time now.
    #[inline]
    pub fn now(&self) -> i64 {
        match self {
            Clock::System { epoch } => epoch.elapsed().as_nanos().min(i64::MAX as u128) as i64,
            Clock::Manual { now, .. } => *now,
        }
    }

    /// Wall-clock time now, in seconds since the Unix epoch (POE's
    /// `Time::HiRes::time`); virtual on a manual clock.
    pub fn wall(&self) -> f64 {
        match self {
            Clock::System { .. } => wall_now(),
            Clock::Manual { now, wall_at_start } => wall_at_start + *now as f64 / 1e9,
        }
    }

    /// Moves a manual clock forward to `t` (never backward).
    pub fn set(&mut self, t: i64) {
        if let Clock::Manual { now, .. } = self {
            *now = (*now).max(t);
        }
    }
}

/// Converts seconds (possibly negative) to nanoseconds, saturating.
pub(crate) fn secs_to_nanos(secs: f64) -> i64 {
    let n = secs * 1e9;
    if n.is_nan() {
        0
    } else {
        n.clamp(i64::MIN as f64, i64::MAX as f64) as i64
    }
}
