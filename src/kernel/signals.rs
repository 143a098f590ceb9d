//! Signals as POE delivers them (SPEC §3.6-§3.7): `sig` watchers,
//! `signal`, `sig_handled`, and the IDLE / ZOMBIE pseudo-signals that end a
//! program with nothing left to do.
//!
//! A signal sent to a session touches it and all its descendants; watchers
//! are called deepest first. If nobody calls `sig_handled`, a terminal
//! signal (QUIT INT KILL TERM HUP IDLE DIE) stops every touched session,
//! and a non-maskable one (ZOMBIE UIDESTROY) does so regardless.

use std::collections::{BTreeMap, HashMap};

use super::core::Core;
use super::ctx::{ActiveEvent, Frame, KernelHandle};
use super::dispatch::deliver;
use super::exceptions;
use super::lifecycle::stop_session;
use super::queue::{Event, Kind};
use super::{discard, Args, Error, EventName, SessionId, Target, Value};
use crate::args;

/// Watchers by signal name, then by session.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    watchers: HashMap<String, BTreeMap<SessionId, (EventName, Args)>>,
    /// `sig_handled` was called during the current signal dispatch.
    handled: bool,
    /// A DIE signal's watchers are running (a panic there is fatal); the
    /// error it carries.
    in_die: Option<String>,
}

impl Signals {
    /// Whether any session watches signal `name`.
    pub fn is_watched(&self, name: &str) -> bool {
        self.watchers.get(name).is_some_and(|w| !w.is_empty())
    }

    /// The error of the DIE signal whose watchers are running, if any.
    pub fn dispatching_die(&self) -> Option<&str> {
        self.in_die.as_deref()
    }

    pub fn remove_session(&mut self, sid: SessionId) {
        if self.watchers.is_empty() {
            return;
        }
        self.watchers.retain(|_, by_session| {
            by_session.remove(&sid);
            !by_session.is_empty()
        });
    }
}

/// How the kernel treats a signal nobody handled.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    Benign,
    Terminal,
    NonMaskable,
}

fn class(name: &str) -> Class {
    match name {
        "QUIT" | "INT" | "KILL" | "TERM" | "HUP" | "IDLE" | "DIE" => Class::Terminal,
        "ZOMBIE" | "UIDESTROY" => Class::NonMaskable,
        _ => Class::Benign,
    }
}

/// Queues a `_signal` for `dest` (the kernel included).
pub(crate) fn enqueue(
    core: &mut Core,
    dest: SessionId,
    source: SessionId,
    name: &str,
    args: Args,
    caller_state: Option<EventName>,
) {
    core.enqueue(Event {
        dest,
        source,
        name: EventName::from(name.to_owned()),
        args,
        kind: Kind::Signal,
        caller_state,
    });
}

/// Dispatches a dequeued `_signal` (POE's `_dispatch_signal`).
pub(crate) fn dispatch(core: &mut Core, ev: Event) {
    let name = ev.name.as_str();
    let target = ev.dest;
    if !target.is_kernel() && !core.exists(target) {
        return;
    }
    // Touched: the target and its descendants, breadth first...
    let mut touched = vec![target];
    let mut i = 0;
    while i < touched.len() {
        let children = core.children_of(touched[i]);
        touched.extend(children);
        i += 1;
    }
    // ...and for DIE its ancestors too (visited after it, nearest first).
    if name == "DIE" {
        let mut ancestors = Vec::new();
        let mut at = core.entry(target).map(|e| e.parent);
        while let Some(p) = at.filter(|p| !p.is_kernel()) {
            ancestors.push(p);
            at = core.entry(p).map(|e| e.parent);
        }
        ancestors.reverse();
        ancestors.extend(touched);
        touched = ancestors;
    }

    core.signals.handled = false;
    core.signals.in_die = (name == "DIE").then(|| match ev.args.value(0) {
        Some(Value::Map(m)) => m.get("error_str").map(Value::to_string).unwrap_or_default(),
        _ => String::new(),
    });
    if core
        .signals
        .watchers
        .get(name)
        .is_some_and(|w| !w.is_empty())
    {
        for &sid in touched.iter().rev() {
            let Some((event, extra)) = core
                .signals
                .watchers
                .get(name)
                .and_then(|w| w.get(&sid))
                .cloned()
            else {
                continue;
            };
            let mut args = args![name];
            args.extend(ev.args.iter().cloned());
            args.extend(extra);
            let frame = Frame {
                session: sid,
                sender: SessionId::KERNEL,
                state: event,
                caller_state: ev.caller_state.clone(),
                active: ActiveEvent::State,
            };
            discard(deliver(core, sid, &frame, &mut args));
        }
    }
    let handled = core.signals.handled;
    core.signals.handled = false;
    core.signals.in_die = None;
    if name == "DIE" && !handled {
        exceptions::unhandled_die(core, target, &ev.args);
    }

    let class = class(name);
    if class == Class::NonMaskable || (class == Class::Terminal && !handled) {
        log::debug!("signal {name} to {target} was not handled: stopping the sessions it touched");
        for &sid in touched.iter().rev() {
            stop_session(core, sid, SessionId::KERNEL);
        }
    } else if target.is_kernel() && name == "IDLE" && core.is_idle() {
        // run()'s own IDLE watcher: still idle after the watchers ran.
        enqueue(
            core,
            SessionId::KERNEL,
            SessionId::KERNEL,
            "ZOMBIE",
            Args::new(),
            None,
        );
    }
}

impl Core {
    /// POE's `_test_if_kernel_is_idle`: nothing queued, nothing watched, no
    /// extra references.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.len() == 0
            && self.handle_total == 0
            && self.extref_total == 0
            && self.os.awaited() == 0
    }
}

impl KernelHandle<'_> {
    /// Watches signal `name`: when it arrives, `event` is called with ARG0 =
    /// the signal name, then the signal's own arguments (POE's
    /// `sig(NAME => event)`). One watcher per session and signal; a new one
    /// replaces the old. A watcher does not keep the session alive.
    pub fn sig(&mut self, name: &str, event: impl Into<EventName>) {
        self.sig_args(name, event, Args::new());
    }

    /// As [`sig`](Self::sig), with extra arguments appended after the
    /// signal's own (POE's `sig(NAME => event, @args)`).
    pub fn sig_args(&mut self, name: &str, event: impl Into<EventName>, args: Args) {
        let me = self.frame.session;
        self.core
            .signals
            .watchers
            .entry(name.to_owned())
            .or_default()
            .insert(me, (event.into(), args));
        self.core.os_watch(name);
    }

    /// Stops watching signal `name` (POE's `sig(NAME)` / `sig(NAME => undef)`).
    pub fn sig_remove(&mut self, name: &str) {
        let me = self.frame.session;
        if let Some(w) = self.core.signals.watchers.get_mut(name) {
            w.remove(&me);
            if w.is_empty() {
                self.core.signals.watchers.remove(name);
            }
        }
    }

    /// Marks the signal being dispatched as handled, so a terminal signal
    /// does not stop the sessions it reached (POE's `sig_handled`).
    pub fn sig_handled(&mut self) {
        self.core.signals.handled = true;
    }

    /// Sends signal `name` to `target` and its descendants (POE's
    /// `signal`); to every session if the target is the kernel
    /// ([`SessionId::KERNEL`]). Queued like a post.
    ///
    /// # Errors
    /// [`Error::NoSuchSession`] if `target` does not resolve (ESRCH).
    pub fn signal<'t>(
        &mut self,
        target: impl Into<Target<'t>>,
        name: &str,
        args: Args,
    ) -> Result<(), Error> {
        let dest = self.core.resolve(target.into())?;
        let caller_state = self.frame.active_event().cloned();
        enqueue(
            self.core,
            dest,
            self.frame.session,
            name,
            args,
            caller_state,
        );
        Ok(())
    }
}
