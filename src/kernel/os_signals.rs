//! Real Unix signals (POE's `%SIG` plumbing, SPEC §3.7) and `sig_child`.
//!
//! OS signals reach the kernel through its poll: `signal-hook` installs the
//! handler and `signal-hook-mio` turns deliveries into readiness of one mio
//! source, so no signal-unsafe code runs in a handler and none is written
//! here. As in POE, a signal's handler is installed when a session first
//! watches it (`sig("INT", ...)`), and each delivery becomes a `_signal` to
//! the kernel, reaching every watcher in the program. A signal that arrives
//! when nobody watches it any more gets its default action, as POE restores
//! `DEFAULT` on the last removal.
//!
//! SIGCHLD: while anyone watches CHLD or a pid (`sig_child`), every exited
//! child is reaped (`waitpid(-1, WNOHANG)` until none is left) and reported:
//! to the pid's `sig_child` watcher, one-shot, as `(CHLD, pid, status,
//! @args)`, and as a `CHLD` signal `(CHLD, pid, status)` to `sig` watchers.
//!
//! SIGPIPE never kills the process: the first kernel installs a handler
//! that ignores it, so writes to a closed socket return `EPIPE` instead.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Once};

use mio::{Interest, Registry, Token};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::signal::*;
use signal_hook_mio::v1_0::Signals;

use super::core::Core;
use super::ctx::KernelHandle;
use super::queue::{Event, Kind};
use super::signals;
use super::{Args, EventName, SessionId, Value};

/// The poll token of the signal source.
pub(crate) const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);

/// POE's names of the OS signals rpoe delivers, and their numbers.
const OS_SIGNALS: [(&str, i32); 9] = [
    ("INT", SIGINT),
    ("TERM", SIGTERM),
    ("HUP", SIGHUP),
    ("QUIT", SIGQUIT),
    ("USR1", SIGUSR1),
    ("USR2", SIGUSR2),
    ("CHLD", SIGCHLD),
    ("WINCH", SIGWINCH),
    ("PIPE", SIGPIPE),
];

fn number(name: &str) -> Option<i32> {
    let name = if name == "CLD" { "CHLD" } else { name };
    OS_SIGNALS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

fn name_of(signal: i32) -> Option<&'static str> {
    OS_SIGNALS
        .iter()
        .find(|(_, s)| *s == signal)
        .map(|(n, _)| *n)
}

/// Makes SIGPIPE harmless for the whole process, once.
pub(crate) fn ignore_sigpipe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Err(e) = signal_hook::flag::register(SIGPIPE, Arc::new(AtomicBool::new(false))) {
            log::warn!("could not install a SIGPIPE handler: {e}");
        }
    });
}

/// A one-shot `sig_child` watcher.
#[derive(Debug)]
struct ChildWatch {
    session: SessionId,
    event: EventName,
    args: Args,
}

/// The kernel's OS-signal state.
#[derive(Default)]
pub(crate) struct OsSignals {
    registry: Option<Registry>,
    source: Option<Signals>,
    installed: HashSet<i32>,
    /// `sig_child` watchers by pid.
    children: BTreeMap<i32, Vec<ChildWatch>>,
}

impl std::fmt::Debug for OsSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsSignals")
            .field("installed", &self.installed)
            .finish()
    }
}

impl OsSignals {
    pub fn new(registry: Registry) -> Self {
        OsSignals {
            registry: Some(registry),
            ..Self::default()
        }
    }

    /// Whether the poll must be consulted for signals.
    #[inline]
    pub fn active(&self) -> bool {
        self.source.is_some()
    }

    /// Installs the handler for `signal` if it is not yet.
    fn install(&mut self, signal: i32) {
        if self.installed.contains(&signal) {
            return;
        }
        if self.source.is_none() {
            let Some(registry) = self.registry.as_ref() else {
                return;
            };
            match Signals::new(std::iter::empty::<i32>()) {
                Ok(mut source) => {
                    match registry.register(&mut source, SIGNAL_TOKEN, Interest::READABLE) {
                        Ok(()) => self.source = Some(source),
                        Err(e) => log::error!("could not watch OS signals: {e}"),
                    }
                }
                Err(e) => log::error!("could not watch OS signals: {e}"),
            }
        }
        if let Some(source) = self.source.as_ref() {
            match source.add_signal(signal) {
                Ok(()) => {
                    self.installed.insert(signal);
                }
                Err(e) => log::error!("could not install a handler for signal {signal}: {e}"),
            }
        }
    }

    /// Number of pids awaited (they block IDLE and hold their sessions).
    pub fn awaited(&self) -> usize {
        self.children.values().map(Vec::len).sum()
    }

    pub fn remove_session(&mut self, sid: SessionId) -> usize {
        if self.children.is_empty() {
            return 0;
        }
        let mut removed = 0;
        self.children.retain(|_, watches| {
            let before = watches.len();
            watches.retain(|w| w.session != sid);
            removed += before - watches.len();
            !watches.is_empty()
        });
        removed
    }
}

impl Core {
    /// Called when a session watches signal `name`: installs the OS handler.
    pub(crate) fn os_watch(&mut self, name: &str) {
        if let Some(signal) = number(name) {
            self.os.install(signal);
        }
    }

    /// Turns pending OS signals into `_signal` events (after a poll).
    pub(crate) fn os_deliver(&mut self) {
        let Some(source) = self.os.source.as_mut() else {
            return;
        };
        let pending: Vec<i32> = source.pending().collect();
        for signal in pending {
            let Some(name) = name_of(signal) else {
                continue;
            };
            if signal == SIGCHLD {
                self.reap_children();
            }
            let watched = self.signals.is_watched(name);
            if signal == SIGCHLD || signal == SIGPIPE {
                if !watched {
                    continue;
                }
            } else if !watched {
                // POE restored DEFAULT when the last watcher went away.
                log::debug!("SIG{name} arrived with no watcher: default action");
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                continue;
            }
            if signal != SIGCHLD {
                log::debug!("OS signal {name} -> kernel");
                signals::enqueue(
                    self,
                    SessionId::KERNEL,
                    SessionId::KERNEL,
                    name,
                    Args::new(),
                    None,
                );
            }
        }
    }

    /// Reaps every exited child and reports each one.
    fn reap_children(&mut self) {
        loop {
            let (pid, status) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), code << 8),
                Ok(WaitStatus::Signaled(pid, sig, core)) => {
                    (pid.as_raw(), sig as i32 | if core { 0x80 } else { 0 })
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            log::debug!("reaped child {pid} with status {status}");
            for watch in self.os.children.remove(&pid).unwrap_or_default() {
                self.child_done(watch.session);
                let mut args = Args::new();
                args.push("CHLD");
                args.push(pid);
                args.push(status);
                args.extend(watch.args);
                self.enqueue(Event {
                    dest: watch.session,
                    source: SessionId::KERNEL,
                    name: watch.event,
                    args,
                    kind: Kind::Post,
                    caller_state: None,
                });
            }
            if self.signals.is_watched("CHLD") {
                let mut args = Args::new();
                args.push(Value::Int(pid.into()));
                args.push(Value::Int(status.into()));
                signals::enqueue(
                    self,
                    SessionId::KERNEL,
                    SessionId::KERNEL,
                    "CHLD",
                    args,
                    None,
                );
            }
        }
    }

    /// A session's pid watch ended: release its hold.
    fn child_done(&mut self, sid: SessionId) {
        if let Some(e) = self.entry_mut(sid) {
            e.child_pids -= 1;
            if e.child_pids == 0 {
                self.maybe_mark(sid);
            }
        }
    }
}

impl KernelHandle<'_> {
    /// Watches for child process `pid` to exit (POE's `sig_child`): `event`
    /// arrives once, with ARG0 = "CHLD", ARG1 = the pid, ARG2 = its wait
    /// status (`$?`), then `args`. Until then the watch keeps this session
    /// alive and the kernel busy. A new watch for the same pid replaces
    /// this session's old one.
    pub fn sig_child(&mut self, pid: u32, event: impl Into<EventName>, args: Args) {
        let me = self.frame.session;
        self.sig_child_remove(pid);
        self.core.os_watch("CHLD");
        let pid = pid as i32;
        self.core
            .os
            .children
            .entry(pid)
            .or_default()
            .push(ChildWatch {
                session: me,
                event: event.into(),
                args,
            });
        if let Some(e) = self.core.entry_mut(me) {
            e.child_pids += 1;
        }
        // The child may have exited before we watched: look now.
        self.core.reap_children();
    }

    /// Stops watching child `pid` (POE's `sig_child($pid)`).
    pub fn sig_child_remove(&mut self, pid: u32) {
        let me = self.frame.session;
        let pid = pid as i32;
        let Some(watches) = self.core.os.children.get_mut(&pid) else {
            return;
        };
        let before = watches.len();
        watches.retain(|w| w.session != me);
        let removed = before - watches.len();
        if watches.is_empty() {
            self.core.os.children.remove(&pid);
        }
        for _ in 0..removed {
            self.core.child_done(me);
        }
    }
}
