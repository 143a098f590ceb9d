//! `Core`: the kernel's tables (session slab, queue, aliases, signals) and
//! POE's reference counting over them.

use std::collections::{BTreeMap, BTreeSet};

use slab::Slab;

use super::aliases::AliasTable;
use super::clock::Clock;
use super::dispatch::DispatchHook;
use super::exceptions::Fatal;
use super::os_signals::OsSignals;
use super::postback::Released;
use super::queue::{Event, Queue};
use super::select::Handles;
use super::session::AnySession;
use super::signals::Signals;
use super::timers::SessionAlarms;
use super::{AlarmId, Error, SessionId, Target, Value};

/// One session's record in the slab.
pub(crate) struct Entry {
    pub id: SessionId,
    pub parent: SessionId,
    /// Children in creation order (ids only grow).
    pub children: Children,
    /// The heap and handlers; `None` while a handler of this session runs.
    pub body: Option<Box<dyn AnySession>>,
    /// Queued events to this session (timers included).
    pub events_to: u32,
    /// Queued events from this session to others.
    pub events_from: u32,
    /// Aliases, extra references and options, which few sessions have.
    pub extras: Option<Box<Extras>>,
    /// Watched I/O handles (filled in by the I/O layer).
    pub handles: u32,
    /// The slot of the newest I/O handle this session owns, first of a list
    /// linked through the handles' `next_owned` ([`NO_HANDLE`]: none), so
    /// that stopping a session finds its own handles without a scan of
    /// every handle (this field fits the record's padding; a handle's
    /// record grows by 8 bytes).
    pub first_handle: u32,
    /// Child pids this session awaits (`sig_child`).
    pub child_pids: u32,
    /// Timers of this session (POE's `alarm(name)`, `alarm_remove_all`).
    pub alarms: SessionAlarms,
    /// Marked for the next GC sweep.
    pub marked: bool,
    /// `_stop` is being delivered.
    pub stopping: bool,
    /// `_start` is running.
    pub starting: bool,
    /// Held until its turn in the queue after creation (POE's
    /// `_garbage_collect` event); counted in `events_to`.
    pub held: bool,
}

/// A session's children in creation order (ids only grow), kept out of
/// line (one word in the session's record), made at the first child and
/// let go with the last: most sessions have none, and each session
/// record is written, scanned and freed with every session.
#[derive(Default)]
// The box is the point: one word in the record where the set is three.
#[allow(clippy::box_collection)]
pub(crate) struct Children(Option<Box<BTreeSet<SessionId>>>);

impl Children {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn iter(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.0.iter().flat_map(|c| c.iter().copied())
    }

    pub fn insert(&mut self, child: SessionId) {
        self.0.get_or_insert_with(Box::default).insert(child);
    }

    pub fn remove(&mut self, child: SessionId) {
        if let Some(c) = self.0.as_mut() {
            c.remove(&child);
            if c.is_empty() {
                self.0 = None;
            }
        }
    }
}

/// The end of a session's list of handles (see [`Entry::first_handle`]).
pub(crate) const NO_HANDLE: u32 = u32::MAX;

/// What few sessions have, kept out of line: a session with none of it
/// (most of a server's connection sessions) spends one word on all three,
/// not 72 bytes.
#[derive(Default)]
pub(crate) struct Extras {
    pub aliases: Vec<String>,
    /// Extra references by tag (`refcount_increment`).
    pub extrefs: Vec<(String, u32)>,
    /// Session options (`trace`, `default`, the program's own).
    pub options: BTreeMap<String, Value>,
}

impl Entry {
    /// Whether anything holds the session: POE's session reference count
    /// (one per kind of holder: events to it, events from it, handles,
    /// child processes, children, aliases, extra references) is not 0. The
    /// holders are tested one by one, stopping at the first, since the GC
    /// asks after every event and never needs the count itself.
    #[inline]
    pub fn is_held(&self) -> bool {
        self.events_to > 0
            || self.events_from > 0
            || self.handles > 0
            || self.child_pids > 0
            || !self.children.is_empty()
            || self
                .extras
                .as_ref()
                .is_some_and(|x| !x.aliases.is_empty() || !x.extrefs.is_empty())
    }

    pub fn aliases(&self) -> &[String] {
        self.extras.as_ref().map_or(&[], |x| &x.aliases)
    }

    pub fn extrefs(&self) -> &[(String, u32)] {
        self.extras.as_ref().map_or(&[], |x| &x.extrefs)
    }

    pub fn option(&self, name: &str) -> Option<&Value> {
        self.extras.as_ref()?.options.get(name)
    }

    /// The extras, made on first use.
    pub fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }
}

/// Everything the kernel owns except the running sessions' bodies.
#[doc(hidden)]
pub struct Core {
    pub(crate) sessions: Slab<Entry>,
    pub(crate) next_id: u64,
    pub(crate) aliases: AliasTable,
    pub(crate) queue: Queue,
    /// Sessions whose refcount reached zero, in marking order.
    pub(crate) marks: Vec<SessionId>,
    /// The sweep's buffer, kept to avoid an allocation per sweep.
    pub(crate) sweeping: Vec<SessionId>,
    pub(crate) clock: Clock,
    /// Kernel time cached for the current batch, used to stamp posts.
    pub(crate) now: i64,
    pub(crate) signals: Signals,
    /// OS signals and `sig_child` watches.
    pub(crate) os: OsSignals,
    /// Watched I/O sources (`select_*`).
    pub(crate) handles: Handles,
    /// `stop()` was called inside a handler; done when the dispatch returns.
    pub(crate) stop_requested: Option<SessionId>,
    pub(crate) hook: Option<DispatchHook>,
    /// Catch panics in handlers (POE's CATCH_EXCEPTIONS); default on.
    pub(crate) catch_panics: bool,
    /// A fatal panic that ends `run()`.
    pub(crate) fatal: Option<Fatal>,
    /// Sessions with the `trace` option on (0: no lookup per dispatch).
    pub(crate) traced_sessions: usize,
    /// Dropped postbacks and callbacks, to release (see postback.rs).
    pub(crate) released: Released,
    /// Extra references held by all sessions (any blocks IDLE).
    pub(crate) extref_total: usize,
    /// Watched handles of all sessions (any blocks IDLE).
    pub(crate) handle_total: usize,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("sessions", &self.sessions.len())
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl Core {
    pub(crate) fn new(clock: Clock, os: OsSignals, handles: Handles) -> Self {
        Core {
            sessions: Slab::new(),
            next_id: 0,
            aliases: AliasTable::default(),
            queue: Queue::default(),
            marks: Vec::new(),
            sweeping: Vec::new(),
            now: clock.now(),
            clock,
            signals: Signals::default(),
            os,
            handles,
            stop_requested: None,
            hook: None,
            released: Released::default(),
            traced_sessions: 0,
            catch_panics: true,
            fatal: None,
            extref_total: 0,
            handle_total: 0,
        }
    }

    #[inline]
    pub(crate) fn entry(&self, sid: SessionId) -> Option<&Entry> {
        if sid.is_kernel() {
            return None;
        }
        self.sessions.get(sid.key()).filter(|e| e.id == sid)
    }

    #[inline]
    pub(crate) fn entry_mut(&mut self, sid: SessionId) -> Option<&mut Entry> {
        entry_in(&mut self.sessions, sid)
    }

    #[inline]
    pub(crate) fn exists(&self, sid: SessionId) -> bool {
        self.entry(sid).is_some()
    }

    /// Number of live sessions (the kernel not counted).
    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Finds a session by its public number (POE's `ID_id_to_session`).
    pub(crate) fn id_to_session(&self, id: u64) -> Option<SessionId> {
        if id == 0 {
            return Some(SessionId::KERNEL);
        }
        self.sessions
            .iter()
            .map(|(_, e)| e.id)
            .find(|s| s.id() == id)
    }

    /// POE's `_resolve_session`: a session id, an alias, or a number.
    pub(crate) fn resolve(&self, target: Target<'_>) -> Result<SessionId, Error> {
        match target {
            Target::Id(sid) if sid.is_kernel() || self.exists(sid) => Ok(sid),
            Target::Id(sid) => Err(Error::NoSuchSession(sid.to_string())),
            Target::Name(name) => self
                .aliases
                .get(name)
                .or_else(|| name.parse().ok().and_then(|n| self.id_to_session(n)))
                .ok_or_else(|| Error::NoSuchSession(name.to_owned())),
        }
    }

    /// The children of a session, or of the kernel, in creation order
    /// (none for a session that does not exist).
    ///
    /// The kernel's children (the top-level sessions) are not indexed:
    /// they are found by a scan of the sessions, which only `stop()`,
    /// signals to the kernel and `get_children(kernel)` need. A set of them
    /// cost a B-tree insert and remove for every top-level session created
    /// and stopped (14% of create+stop's instructions at 100,000 sessions).
    pub(crate) fn children_of(&self, sid: SessionId) -> Vec<SessionId> {
        if sid.is_kernel() {
            let mut top: Vec<SessionId> = self
                .sessions
                .iter()
                .filter(|(_, e)| e.parent.is_kernel())
                .map(|(_, e)| e.id)
                .collect();
            top.sort_unstable();
            top
        } else {
            self.entry(sid)
                .map(|e| e.children.iter().collect())
                .unwrap_or_default()
        }
    }

    /// A session's set of children, to change; `None` for the kernel,
    /// whose children are not indexed (see [`children_of`](Self::children_of)).
    pub(crate) fn children_mut(&mut self, sid: SessionId) -> Option<&mut Children> {
        self.entry_mut(sid).map(|e| &mut e.children)
    }

    /// Marks `sid` for the next GC sweep if nothing holds it any more.
    #[inline]
    pub(crate) fn maybe_mark(&mut self, sid: SessionId) {
        if let Some(e) = self.entry_mut(sid) {
            if !e.is_held() && !e.stopping {
                e.marked = true;
                self.marks.push(sid);
            }
        }
    }

    /// Holds new session `sid` until its turn in the queue (POE's
    /// `_garbage_collect` event, which counts as an event to it).
    pub(crate) fn hold_new(&mut self, sid: SessionId) {
        if let Some(e) = self.entry_mut(sid) {
            e.events_to += 1;
            e.held = true;
            self.queue.push_hold(self.now, sid);
        }
    }

    /// A hold's turn came: the session's count goes down (and the GC
    /// looks at it), as when POE dispatches `_garbage_collect`.
    pub(crate) fn release_hold(&mut self, sid: SessionId) {
        match self.entry_mut(sid) {
            Some(e) if e.held => {
                e.held = false;
                e.events_to -= 1;
                if e.events_to == 0 {
                    self.maybe_mark(sid);
                }
            }
            _ => self.queue.abandoned_hold_popped(),
        }
    }

    /// Queues a post or signal event, taking POE's "events to" /
    /// "events from" counts.
    #[inline(always)]
    pub(crate) fn enqueue(&mut self, ev: Event) {
        self.take_counts(ev.dest, ev.source);
        self.queue.push_post(self.now, ev);
    }

    /// Takes the counts of a post to a destination not yet known to exist
    /// (to be queued with [`queue.push_post`](Queue::push_post) at once):
    /// [`Error::NoSuchSession`] (and nothing counted) if it does not; the
    /// kernel itself is accepted, as POE accepts posts to it. Checked
    /// before the event is built, so that the event is built where the
    /// queue keeps it: built first, it had to wait on the stack across the
    /// check and was then copied in (a 176-byte copy, read in pieces that
    /// did not match the stores that had just built it, twice per post).
    #[inline(always)]
    pub(crate) fn count_post(&mut self, dest: SessionId, source: SessionId) -> Result<(), Error> {
        match self.entry_mut(dest) {
            Some(e) => e.events_to += 1,
            None if dest.is_kernel() => {}
            None => return Err(Error::NoSuchSession(dest.to_string())),
        }
        if source != dest {
            if let Some(e) = self.entry_mut(source) {
                e.events_from += 1;
            }
        }
        Ok(())
    }

    /// Queues a timer due at kernel time `due`.
    #[inline]
    pub(crate) fn enqueue_timer(&mut self, due: i64, wall: f64, ev: Event) -> AlarmId {
        self.take_counts(ev.dest, ev.source);
        let dest = ev.dest;
        let id = self.queue.push_timer(due, wall, ev);
        // The entry by field, so that the queue stays readable.
        let queue = &self.queue;
        if let Some(e) = entry_in(&mut self.sessions, dest) {
            e.alarms.add(id, |id| queue.alarm_owner(id) == Some(dest));
        }
        id
    }

    #[inline]
    fn take_counts(&mut self, dest: SessionId, source: SessionId) {
        if let Some(e) = self.entry_mut(dest) {
            e.events_to += 1;
        }
        if source != dest {
            if let Some(e) = self.entry_mut(source) {
                e.events_from += 1;
            }
        }
    }

    /// [`release`](Self::release) for a post or timer about to be
    /// dispatched, in the same look at the destination's record as taking
    /// its body out for the handler (`None` if a handler of it is running).
    ///
    /// If the destination's count reaches 0, its GC mark is not pushed now:
    /// the place it would take among the marks is returned instead, for
    /// [`end_dispatch`](Self::end_dispatch) to mark it there after the
    /// handler, if nothing holds it by then. A session that goes on posting
    /// to itself (a yield loop) is then never marked only to be found held
    /// again by the sweep, and the marks keep POE's order: the
    /// destination's before the source's, and before any the handler makes.
    #[inline(always)]
    pub(crate) fn release_for_dispatch(
        &mut self,
        ev: &Event,
    ) -> (Option<Box<dyn AnySession>>, Option<usize>) {
        let mut taken = (None, None);
        if let Some(e) = entry_in(&mut self.sessions, ev.dest) {
            if release_to(e, ev) {
                taken.1 = Some(self.marks.len());
            }
            taken.0 = e.body.take();
        }
        self.release_from(ev);
        taken
    }

    /// Ends a dispatch begun by [`release_for_dispatch`](Self::release_for_dispatch):
    /// puts the body back (unless the session stopped meanwhile) and marks
    /// the session at `mark_at` if its count reached 0 and nothing holds it.
    /// (A mark the handler itself made for it comes later in the marks,
    /// and the sweep goes by a session's newest mark, as with POE's.)
    #[inline(always)]
    pub(crate) fn end_dispatch(
        &mut self,
        sid: SessionId,
        body: Option<Box<dyn AnySession>>,
        mark_at: Option<usize>,
    ) {
        if let Some(e) = entry_in(&mut self.sessions, sid) {
            if body.is_some() {
                e.body = body;
            }
            if let Some(at) = mark_at {
                if !e.is_held() && !e.stopping {
                    e.marked = true;
                    let at = at.min(self.marks.len());
                    self.marks.insert(at, sid);
                }
            }
        }
    }

    /// Releases the counts an event took when it was queued (POE does this
    /// when the event is dequeued, before its handler runs, or removed).
    #[inline]
    pub(crate) fn release(&mut self, ev: &Event) {
        if let Some(e) = self.entry_mut(ev.dest) {
            if release_to(e, ev) {
                self.maybe_mark(ev.dest);
            }
        }
        self.release_from(ev);
    }

    /// Releases the "events from" count an event took on its source (if
    /// another session), marking the source if that was the last.
    #[inline(always)]
    fn release_from(&mut self, ev: &Event) {
        if ev.source != ev.dest {
            if let Some(e) = self.entry_mut(ev.source) {
                e.events_from -= 1;
                if e.events_from == 0 {
                    self.maybe_mark(ev.source);
                }
            }
        }
    }
}

/// Releases the "events to" count (and a timer's own count) an event took on
/// its destination `e`; says whether the count reached 0.
#[inline(always)]
fn release_to(e: &mut Entry, ev: &Event) -> bool {
    e.events_to -= 1;
    if ev.kind.alarm().is_some() {
        e.alarms.released();
    }
    e.events_to == 0
}

/// Session `sid`'s live entry in the slab (the whole id is checked, so a
/// stale id never reaches a newer session in a reused slot).
#[inline]
pub(crate) fn entry_in(sessions: &mut Slab<Entry>, sid: SessionId) -> Option<&mut Entry> {
    if sid.is_kernel() {
        return None;
    }
    sessions.get_mut(sid.key()).filter(|e| e.id == sid)
}
