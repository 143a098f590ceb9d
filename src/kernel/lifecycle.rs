//! The session lifecycle as POE 1.370 runs it (SPEC §3.5): creation with
//! `_start` and `_child(create)`, garbage collection, `_stop` with
//! `_child(gain)` / `_parent` / `_child(lose)`, `detach_myself`,
//! `detach_child`, and the kernel's `stop()`.

use super::core::{Children, Core, Entry, Extras, NO_HANDLE};
use super::ctx::{Ctx, Frame};
use super::dispatch::deliver;
use super::options::{normalise, truthy};
use super::queue::{Event, Kind};
use super::session::sealed::Active;
use super::session::AnySession;
use super::timers::SessionAlarms;
use super::{Args, Error, EventName, Outcome, SessionId, Target, Value};
use crate::args;

const START: EventName = EventName::from_static("_start");
const STOP: EventName = EventName::from_static("_stop");
const CHILD: EventName = EventName::from_static("_child");
const PARENT: EventName = EventName::from_static("_parent");

/// Turns a handler's outcome into the value POE would pass on (`undef` on
/// failure; the failure itself was logged where it happened).
fn value_of(r: Outcome) -> Value {
    r.unwrap_or_default()
}

/// `POE::Session->create`: allocate, `_start`, `_child(create)`, then hold
/// the session with an internal `_garbage_collect` event until the next
/// dispatch batch.
pub(crate) fn create(
    host: &mut dyn Active,
    mut body: Box<dyn AnySession>,
    has_start: bool,
    args: Args,
    options: Vec<(String, Value)>,
) -> Result<SessionId, Error> {
    if !has_start {
        log::warn!("discarding session - no '_start' state");
        return Err(Error::NoStartState);
    }
    let parent = host.active_id();
    let core = host.core();
    core.next_id += 1;
    let has_options = !options.is_empty();
    let slot = core.sessions.vacant_entry();
    let sid = SessionId::new(core.next_id, slot.key());
    slot.insert(Entry {
        id: sid,
        parent,
        children: Children::default(),
        body: None,
        events_to: 0,
        events_from: 0,
        extras: has_options.then(|| {
            Box::new(Extras {
                options: options
                    .into_iter()
                    .map(|(k, v)| (k, normalise(v)))
                    .collect(),
                ..Extras::default()
            })
        }),
        handles: 0,
        first_handle: NO_HANDLE,
        child_pids: 0,
        alarms: SessionAlarms::default(),
        marked: false,
        stopping: false,
        starting: true,
        held: false,
    });
    if let Some(children) = core.children_mut(parent) {
        children.insert(sid);
    }
    if has_options && core.option_is_set(sid, "trace") {
        core.traced_sessions += 1;
    }
    log::debug!("session {sid} created by {parent}");

    let mut args = args;
    let ret = value_of(body.dispatch(core, &Frame::internal(sid, parent, START), &mut args));
    let Some(entry) = core.entry_mut(sid) else {
        return Ok(sid);
    };
    entry.body = Some(body);
    entry.starting = false;
    // To the parent as it is now: `detach_myself` in `_start` means no `_child` at all.
    let parent_now = entry.parent;
    notify(host, parent_now, CHILD, || args!["create", sid, ret]);

    host.core().hold_new(sid);
    Ok(sid)
}

/// Delivers a kernel-generated event (`_child`, `_parent`) synchronously,
/// SENDER = kernel. Nothing is sent to the kernel itself. If the target's
/// handler is running further up the stack, the event is queued instead
/// (Rust cannot lend the same heap twice; POE would nest the call).
fn notify(host: &mut dyn Active, target: SessionId, name: EventName, args: impl FnOnce() -> Args) {
    if target.is_kernel() {
        return;
    }
    let mut args = args();
    let frame = Frame::internal(target, SessionId::KERNEL, name.clone());
    let result = if target == host.active_id() {
        host.dispatch_self(&frame, &mut args)
    } else {
        // A handler running further up the stack is found before anything
        // takes the arguments, so they are still here to be queued.
        match deliver(host.core(), target, &frame, &mut args) {
            Err(e) if matches!(*e, Error::Reentrant { .. }) => {
                host.core().enqueue(Event {
                    dest: target,
                    source: SessionId::KERNEL,
                    name,
                    args,
                    kind: Kind::Post,
                    caller_state: None,
                });
                return;
            }
            r => r,
        }
    };
    let _ = result;
}

/// Top-level code has no active session: `notify` through the kernel.
struct TopLevel<'a>(&'a mut Core);

impl Active for TopLevel<'_> {
    fn active_id(&self) -> SessionId {
        SessionId::KERNEL
    }
    fn core(&mut self) -> &mut Core {
        self.0
    }
    fn dispatch_self(&mut self, _frame: &Frame, _args: &mut Args) -> Outcome {
        Ok(Value::Undef)
    }
}

/// POE's `_data_ses_stop`: `_child(gain)` + `_parent` for each child,
/// `_stop`, `_child(lose)` to the parent, then free everything the session
/// held. Runs only where no handler is on the stack (GC sweeps, signal
/// dispatch, `stop()`), so every session's body is at hand.
pub(crate) fn stop_session(core: &mut Core, sid: SessionId, sender: SessionId) {
    let Some(entry) = core.entry_mut(sid) else {
        return;
    };
    if entry.stopping {
        return;
    }
    entry.stopping = true;
    let parent = entry.parent;
    let children: Vec<SessionId> = entry.children.iter().collect();
    log::debug!("stopping session {sid}");
    let mut top = TopLevel(core);
    for child in children {
        notify(&mut top, parent, CHILD, || args!["gain", child]);
        notify(&mut top, child, PARENT, || args![sid, parent]);
    }
    let ret = value_of(deliver(
        top.0,
        sid,
        &Frame::internal(sid, sender, STOP),
        &mut Args::new(),
    ));
    notify(&mut top, parent, CHILD, || args!["lose", sid, ret]);
    free(core, sid);
}

/// Removes a stopped session and everything it held (SPEC §3.5 step 4).
fn free(core: &mut Core, sid: SessionId) {
    let Some(entry) = core.entry(sid) else {
        return;
    };
    // Its handles first, while its record still lists them.
    if entry.first_handle != NO_HANDLE {
        core.unwatch_session(sid);
    }
    let entry = core.sessions.remove(sid.key());
    // Children go to the grandparent.
    let parent = entry.parent;
    for child in entry.children.iter() {
        if let Some(c) = core.entry_mut(child) {
            c.parent = parent;
        }
    }
    if let Some(siblings) = core.children_mut(parent) {
        // Added before the stopped one leaves, so that a set that would
        // be empty only in between is not let go and made again.
        for child in entry.children.iter() {
            siblings.insert(child);
        }
        siblings.remove(sid);
    }
    core.maybe_mark(parent);
    for alias in entry.aliases() {
        core.aliases.remove(alias);
    }
    core.extref_total -= entry.extrefs().len();
    if entry.option("trace").is_some_and(truthy) {
        core.traced_sessions -= 1;
    }
    core.signals.remove_session(sid);
    core.os.remove_session(sid);
    if entry.held {
        // Its hold stays queued, counted as gone, and is passed over.
        core.queue.hold_abandoned();
    }
    // Its hold is not among the queued events to look for.
    if entry.events_to > u32::from(entry.held) || entry.events_from > 0 {
        // Events to it and from it are dropped, even those `_stop` posted.
        for ev in core.queue.remove_session(sid, entry.alarms.ids()) {
            core.release(&ev);
        }
    }
    log::debug!("session {sid} freed");
    drop(entry);
}

/// POE's GC sweep: marked sessions still holding nothing are stopped, each
/// round in reverse marking order, until no marks remain. Returns whether
/// it stopped any.
#[inline]
pub(crate) fn gc_sweep(core: &mut Core) -> bool {
    if gc_sweep_stops_none(core) {
        return false;
    }
    let mut stopped = false;
    while !core.marks.is_empty() {
        let mut round = std::mem::take(&mut core.sweeping);
        std::mem::swap(&mut round, &mut core.marks);
        for &sid in round.iter().rev() {
            let due = match core.entry_mut(sid) {
                Some(e) if e.marked => {
                    e.marked = false;
                    !e.is_held()
                }
                _ => false,
            };
            if due {
                stop_session(core, sid, SessionId::KERNEL);
                stopped = true;
            }
        }
        round.clear();
        core.sweeping = round;
    }
    stopped
}

/// The sweep's common case, done at once: no marks, or one mark of a
/// session that something holds again (a yield loop marks its session at
/// every release and posts again before the sweep), which is cleared.
/// Returns false, touching nothing, when a real sweep is needed.
#[inline(always)]
pub(crate) fn gc_sweep_stops_none(core: &mut Core) -> bool {
    match core.marks[..] {
        [] => true,
        [sid] => match core.entry_mut(sid).filter(|e| e.is_held()) {
            Some(e) => {
                e.marked = false;
                core.marks.clear();
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// POE's `stop()`: every session, in reverse breadth-first order from the
/// kernel (deepest and newest first), through the normal stop path.
pub(crate) fn stop_all(core: &mut Core, sender: SessionId) {
    let mut order = core.children_of(SessionId::KERNEL);
    let mut i = 0;
    while i < order.len() {
        let children = core.children_of(order[i]);
        order.extend(children);
        i += 1;
    }
    for sid in order.into_iter().rev() {
        stop_session(core, sid, sender);
    }
    gc_sweep(core);
}

/// Moves `child` under `new_parent`.
fn reparent(core: &mut Core, child: SessionId, new_parent: SessionId) {
    let Some(entry) = core.entry_mut(child) else {
        return;
    };
    let old = std::mem::replace(&mut entry.parent, new_parent);
    if let Some(c) = core.children_mut(old) {
        c.remove(child);
    }
    if let Some(c) = core.children_mut(new_parent) {
        c.insert(child);
    }
    core.maybe_mark(old);
}

impl<H: 'static> Ctx<'_, H> {
    /// POE's `detach_myself`: makes this session a child of the kernel.
    /// Sends `_child(lose, me, undef)` to the old parent (not while `_start`
    /// runs, as in POE), then `_parent(old, kernel)` to this session.
    ///
    /// # Errors
    /// [`Error::NotPermitted`] if the session is already top-level (POE:
    /// EPERM).
    pub fn detach_myself(&mut self) -> Result<(), Error> {
        let me = self.kernel.frame.session;
        let Some(entry) = self.kernel.core.entry(me) else {
            return Err(Error::NoSuchSession(me.to_string()));
        };
        let (old, starting) = (entry.parent, entry.starting);
        if old.is_kernel() {
            return Err(Error::NotPermitted(
                "the session is already a child of the kernel",
            ));
        }
        if !starting {
            notify(self, old, CHILD, || args!["lose", me, Value::Undef]);
        }
        notify(self, me, PARENT, || args![old, SessionId::KERNEL]);
        reparent(self.kernel.core, me, SessionId::KERNEL);
        Ok(())
    }

    /// POE's `detach_child`: makes a child of this session a child of the
    /// kernel. Sends `_child(lose, child, undef)` to this session, then
    /// `_parent(me, kernel)` to the child.
    ///
    /// # Errors
    /// [`Error::NoSuchSession`] if `child` does not resolve (ESRCH);
    /// [`Error::NotPermitted`] if it is not this session's child (EPERM).
    pub fn detach_child<'t>(&mut self, child: impl Into<Target<'t>>) -> Result<(), Error> {
        let me = self.kernel.frame.session;
        let child = self.kernel.core.resolve(child.into())?;
        if self.kernel.core.entry(child).map(|e| e.parent) != Some(me) {
            return Err(Error::NotPermitted(
                "the session is not a child of this session",
            ));
        }
        notify(self, me, CHILD, || args!["lose", child, Value::Undef]);
        notify(self, child, PARENT, || args![me, SessionId::KERNEL]);
        reparent(self.kernel.core, child, SessionId::KERNEL);
        Ok(())
    }
}
