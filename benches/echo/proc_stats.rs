//! What the OS says about a server process: CPU time (its own accounting,
//! not the client's view), resident memory, and pinning to a core.

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// Nanoseconds the process has run on a CPU (all threads): the first field
/// of `/proc/PID/schedstat` where the kernel has it, else `utime + stime`
/// from `/proc/PID/stat` (10 ms resolution).
pub fn cpu_ns(pid: u32) -> u64 {
    if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/schedstat")) {
        if let Some(ns) = s.split_whitespace().next().and_then(|f| f.parse().ok()) {
            if ns > 0 {
                return ns;
            }
        }
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces, in parentheses).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // rest starts at field 3 (state, not numeric): utime is field 14, stime 15.
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    ticks * 10_000_000
}

/// One field of `/proc/PID/status` (the text after `name:`, trimmed).
fn status_field(pid: u32, name: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let value = l.strip_prefix(name)?.strip_prefix(':')?;
        Some(value.trim().to_string())
    })
}

/// Resident set size in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Where the load client and the servers run: two different CPUs.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    pub client: usize,
    pub server: usize,
}

/// The CPUs this process may run on (its affinity mask), in order.
fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// Chooses the client's and the servers' CPUs, and pins the calling
/// thread (the load client, and the threads it starts) to the first;
/// `None` if this process may run on one CPU only or the OS refuses.
/// Must run before anything else pins this process: afterwards it may
/// run on one CPU only, and a count of "available" CPUs taken then says
/// 1 (which is how, until the twelfth pass, every server was left on
/// the client's CPU: the pinning of servers asked that count first).
pub fn place() -> Option<Placement> {
    let cpus = allowed_cpus();
    let (&client, &server) = (cpus.first()?, cpus.get(1)?);
    pin(0, client).then_some(Placement { client, server })
}

/// Pins a process (or, with 0, the calling thread) to one CPU; false if
/// the OS refuses.
pub fn pin(pid: u32, cpu: usize) -> bool {
    let mut set = CpuSet::new();
    if set.set(cpu).is_err() {
        return false;
    }
    sched_setaffinity(Pid::from_raw(pid as i32), &set).is_ok()
}

/// The CPUs a process may run on, as the kernel lists them
/// (`Cpus_allowed_list` of `/proc/PID/status`), to check a pinning.
pub fn allowed_list(pid: u32) -> String {
    status_field(pid, "Cpus_allowed_list").unwrap_or_default()
}
