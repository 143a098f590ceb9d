//! The kernel's clock: monotonic time in nanoseconds since the kernel began.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the kernel reads the time. Kernel time is an `i64` of nanoseconds
/// since the kernel was built, taken from a monotonic `Instant`, so moving
/// the wall clock never makes a delay fire early or late.
#[derive(Debug)]
pub(crate) struct Clock {
    epoch: Instant,
    /// Wall-clock time at `epoch`, for converting `alarm` epochs.
    wall_at_epoch: SystemTime,
}

impl Clock {
    pub fn system() -> Self {
        Clock {
            epoch: Instant::now(),
            wall_at_epoch: SystemTime::now(),
        }
    }

    /// Kernel time now.
    pub fn now(&self) -> i64 {
        self.epoch.elapsed().as_nanos().min(i64::MAX as u128) as i64
    }

    /// Converts kernel time to seconds since the Unix epoch (POE's times).
    pub fn to_epoch_secs(&self, t: i64) -> f64 {
        let base = self
            .wall_at_epoch
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs_f64();
        base + t as f64 / 1e9
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
