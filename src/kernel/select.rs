//! Raw I/O watchers: POE's `select_read`, `select_write` and their pause /
//! resume forms (SPEC §3.9), on any mio source.
//!
//! The kernel owns each watched source: [`KernelHandle::watch`] hands it
//! over and returns a [`HandleId`]; handlers reach it with
//! [`KernelHandle::io`] and take it back with [`KernelHandle::unwatch`].
//! Sources are registered once, edge-triggered, for reading and writing.
//! POE's watchers are level-triggered: a readable handle that is not read
//! fires again every timeslice. rpoe gets the same by re-arming the source
//! (mio `reregister`, which reports readiness again on Linux epoll) after
//! each dispatch to it. The handler of a watcher is *called* after the
//! poll, before queued events, with ARG0 = the handle id, ARG1 = the mode
//! (0 read, 1 write), then the watcher's arguments; SENDER = the session.
//!
//! Tokens carry the slot's generation, so readiness reported for a source
//! that was unwatched (and whose slot was reused) in the same poll batch
//! never reaches the new one.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::rc::Rc;

use mio::event::Source;
use mio::{Interest, Registry, Token};
use slab::Slab;

use super::core::{entry_in, Core, NO_HANDLE};
use super::ctx::{Ctx, Frame, KernelHandle};
use super::dispatch::{deliver, deliver_direct};
use super::queue::{Event, Kind};
use super::session::Handler;
use super::stateless::shared_handler;
use super::{Args, Error, EventName, FromArg, HandlerReturn, SessionId, Value};

/// A watched I/O source (POE's file handle in `select_*`): the slot and
/// its generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandleId(u64);

impl HandleId {
    fn new(key: usize, generation: u32) -> Self {
        HandleId((u64::from(generation) << 32) | key as u64)
    }
    fn key(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }
    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
    fn token(self) -> Token {
        Token(self.0 as usize)
    }
    /// The handle a poller token names (the inverse of `token`).
    fn of_token(token: Token) -> Self {
        HandleId(token.0 as u64)
    }
    /// The id as a number (what handlers receive as ARG0).
    pub fn id(&self) -> u64 {
        self.0
    }
}

impl From<HandleId> for Value {
    fn from(h: HandleId) -> Self {
        Value::Int(h.0 as i64)
    }
}

impl<'a> FromArg<'a> for HandleId {
    const EXPECTED: &'static str = "handle id";
    fn from_arg(v: &'a Value) -> Option<Self> {
        v.as_int().map(|i| HandleId(i as u64))
    }
}

/// A source the kernel can register and hand back typed.
trait AnySource: Any {
    fn source(&mut self) -> &mut dyn Source;
    fn as_any(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Source + Any> AnySource for T {
    fn source(&mut self) -> &mut dyn Source {
        self
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// One mode's watcher: a named event (POE's `select_read($fh, $event,
/// @args)`), or a handler given with the watch (POE's `$kernel->state` plus
/// `select_read`, what wheels use).
struct Mode {
    event: EventName,
    args: Args,
    paused: bool,
    handler: Option<Rc<dyn Any>>,
}

impl Mode {
    fn active(&self) -> bool {
        !self.paused
    }
}

struct Watched {
    generation: u32,
    owner: SessionId,
    source: Box<dyn AnySource>,
    read: Option<Mode>,
    write: Option<Mode>,
    /// Edge-triggered (a [`Registration`]): never re-armed after dispatch;
    /// its handlers drain the source and ask for a [wake](Registration::wake_read)
    /// when they stop early.
    edge: bool,
    /// Edge sources only: the poller watches writability. A resumed write
    /// watcher is first called at the next poll without it (most writes
    /// complete at once); only a handler that leaves the watcher active
    /// (it met `WouldBlock`) arms it. This saves two `epoll_ctl` calls per
    /// flushed response.
    write_armed: bool,
    /// What the poller watches now (`None`: not registered).
    registered: Option<Interest>,
    /// The poller has reported the end of the peer's output or an error
    /// (mio's `is_read_closed` / `is_error`): final once seen. Until then a
    /// short read proves an edge source drained ([`KernelHandle::input_closed`]).
    input_closed: bool,
    /// Directions woken for the poll being dispatched ([`WOKEN_READ`],
    /// [`WOKEN_WRITE`]): set and cleared within one
    /// [`io_dispatch`](Core::io_dispatch), so that merging the woken list
    /// with the poller's report takes one look per entry.
    woken: u8,
    /// The slot of the owner's next older handle ([`NO_HANDLE`]: none).
    next_owned: u32,
}

/// [`Watched::woken`]'s bits.
const WOKEN_READ: u8 = 1;
const WOKEN_WRITE: u8 = 2;

impl Watched {
    fn watching(&self) -> bool {
        self.read.is_some() || self.write.is_some()
    }

    /// The interest the active modes need.
    fn wanted(&self) -> Option<Interest> {
        let r = self.read.as_ref().is_some_and(Mode::active);
        let w = self.write.as_ref().is_some_and(Mode::active) && (!self.edge || self.write_armed);
        match (r, w) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        }
    }

    fn mode_mut(&mut self, dir: Dir) -> &mut Option<Mode> {
        match dir {
            Dir::Read => &mut self.read,
            Dir::Write => &mut self.write,
        }
    }
}

/// What the poller reported for one source (or a wake asked for).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Readiness {
    pub token: Token,
    /// Readable, read-closed or in error: the read watcher is called.
    pub read: bool,
    /// Writable, write-closed or in error: the write watcher is called.
    pub write: bool,
    /// The end of the peer's output or an error was reported.
    pub input_closed: bool,
}

/// A new watcher: its event name, arguments and (for `select_*_state`) handler.
type Watcher = (EventName, Args, Option<Rc<dyn Any>>);

/// A change asked for through a [`Registration`], applied by the kernel
/// before its next poll (and before garbage collection).
#[derive(Debug)]
pub(crate) enum IoRequest {
    Pause(HandleId, Dir),
    Resume(HandleId, Dir),
    Wake(HandleId, Dir),
    Release(HandleId),
    Yield(SessionId, EventName, Args),
}

/// The kernel's mailbox for [`Registration`]s.
pub(crate) type IoRequests = Rc<RefCell<Vec<IoRequest>>>;

/// The kernel's table of watched sources.
pub(crate) struct Handles {
    slab: Slab<Watched>,
    next_generation: u32,
    registry: Registry,
    pub(crate) requests: IoRequests,
    /// The emptied vector of the last batch of requests, swapped back in so
    /// that the mailbox does not allocate anew after every batch.
    spare_requests: Vec<IoRequest>,
    /// Readiness to report at the next poll whatever the OS says.
    woken: Vec<(HandleId, Dir)>,
    /// The emptied vectors of the last poll's woken list and readiness
    /// report, kept so that a poll does not allocate them anew.
    spare_woken: Vec<(HandleId, Dir)>,
    pub(crate) spare_ready: Vec<Readiness>,
}

impl fmt::Debug for Handles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handles")
            .field("watched", &self.slab.len())
            .finish()
    }
}

/// Read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

impl Handles {
    pub fn new(registry: Registry) -> Self {
        Handles {
            slab: Slab::new(),
            next_generation: 0,
            registry,
            requests: IoRequests::default(),
            spare_requests: Vec::new(),
            woken: Vec::new(),
            spare_woken: Vec::new(),
            spare_ready: Vec::new(),
        }
    }

    fn get_mut(&mut self, h: HandleId) -> Option<&mut Watched> {
        self.slab
            .get_mut(h.key())
            .filter(|w| w.generation == h.generation())
    }

    /// Whether some readiness is to be reported without waiting.
    pub(crate) fn has_woken(&self) -> bool {
        !self.woken.is_empty()
    }

    /// Brings the poller's registration in line with the active modes;
    /// `rearm` re-registers even when nothing changed, so that readiness
    /// the source still has is reported again (Linux epoll does on
    /// `EPOLL_CTL_MOD`).
    fn sync(&mut self, h: HandleId, rearm: bool) {
        let registry = &self.registry;
        let Some(w) = self
            .slab
            .get_mut(h.key())
            .filter(|w| w.generation == h.generation())
        else {
            return;
        };
        let wanted = w.wanted();
        let result = match (w.registered, wanted) {
            (None, None) => Ok(()),
            (Some(_), None) => registry.deregister(w.source.source()),
            (None, Some(i)) => registry.register(w.source.source(), h.token(), i),
            (Some(r), Some(i)) if r != i || rearm => {
                registry.reregister(w.source.source(), h.token(), i)
            }
            (Some(_), Some(_)) => return,
        };
        match result {
            Ok(()) => w.registered = wanted,
            Err(e) => log::warn!(
                "updating the poll registration of handle {} failed: {e}",
                h.0
            ),
        }
    }

    /// Removes a watched source, deregistering it; returns it with whether
    /// it was watching.
    fn remove(&mut self, h: HandleId) -> Option<Watched> {
        self.get_mut(h)?;
        let mut w = self.slab.remove(h.key());
        if w.registered.is_some() {
            let _ = self.registry.deregister(w.source.source());
        }
        Some(w)
    }
}

impl Core {
    /// Adds a handle owned by `owner`, first in its list.
    fn insert_handle(&mut self, mut w: Watched) -> HandleId {
        let entry = entry_in(&mut self.sessions, w.owner);
        w.next_owned = entry.as_ref().map_or(NO_HANDLE, |e| e.first_handle);
        let slot = self.handles.slab.vacant_entry();
        let h = HandleId::new(slot.key(), w.generation);
        slot.insert(w);
        if let Some(e) = entry {
            e.first_handle = h.key() as u32;
        }
        h
    }

    /// Removes a handle, and takes it off its owner's list.
    fn remove_handle(&mut self, h: HandleId) -> Option<Watched> {
        let w = self.handles.remove(h)?;
        let key = h.key() as u32;
        if let Some(e) = entry_in(&mut self.sessions, w.owner) {
            if e.first_handle == key {
                e.first_handle = w.next_owned;
            } else {
                let mut at = e.first_handle;
                while let Some(prev) = self.handles.slab.get_mut(at as usize) {
                    if prev.next_owned == key {
                        prev.next_owned = w.next_owned;
                        break;
                    }
                    at = prev.next_owned;
                }
            }
        }
        Some(w)
    }

    /// The handles owned by `sid`, newest first.
    fn owned_by(&self, sid: SessionId) -> Vec<HandleId> {
        let mut owned = Vec::new();
        let mut at = self.entry(sid).map_or(NO_HANDLE, |e| e.first_handle);
        while let Some(w) = self.handles.slab.get(at as usize) {
            owned.push(HandleId::new(at as usize, w.generation));
            at = w.next_owned;
        }
        owned
    }
}

impl Core {
    /// Counts a handle in its owner's refcount when it gains its first mode,
    /// and releases it when it loses its last.
    fn handle_count_change(&mut self, owner: SessionId, before: bool, after: bool) {
        if before == after {
            return;
        }
        if let Some(e) = self.entry_mut(owner) {
            if after {
                e.handles += 1;
                self.handle_total += 1;
            } else {
                e.handles -= 1;
                self.handle_total -= 1;
                self.maybe_mark(owner);
            }
        }
    }

    /// Drops every source a stopping session owned.
    pub(crate) fn unwatch_session(&mut self, sid: SessionId) {
        for h in self.owned_by(sid) {
            if let Some(w) = self.remove_handle(h) {
                if w.watching() {
                    self.handle_total -= 1;
                }
            }
        }
    }

    /// Applies what [`Registration`]s asked for since the last time.
    #[inline]
    pub(crate) fn apply_io_requests(&mut self) {
        if !self.has_io_requests() {
            return;
        }
        self.apply_io_requests_now();
    }

    /// Whether wheels asked for changes to their watchers since the last
    /// [`apply_io_requests`](Self::apply_io_requests).
    #[inline]
    pub(crate) fn has_io_requests(&self) -> bool {
        !self.handles.requests.borrow().is_empty()
    }

    #[cold]
    fn apply_io_requests_now(&mut self) {
        let mut requests = std::mem::take(&mut self.handles.spare_requests);
        std::mem::swap(&mut requests, &mut *self.handles.requests.borrow_mut());
        for r in requests.drain(..) {
            match r {
                IoRequest::Pause(h, dir) => {
                    self.set_paused(h, dir, true);
                }
                IoRequest::Resume(h, dir) => {
                    self.set_paused(h, dir, false);
                }
                IoRequest::Wake(h, dir) => {
                    if self.handles.get_mut(h).is_some() {
                        self.handles.woken.push((h, dir));
                    }
                }
                IoRequest::Yield(sid, name, args) => {
                    if self.entry(sid).is_some() {
                        self.enqueue(Event {
                            dest: sid,
                            source: sid,
                            name,
                            args,
                            kind: Kind::Post,
                            caller_state: None,
                        });
                    }
                }
                IoRequest::Release(h) => {
                    if let Some(w) = self.remove_handle(h) {
                        self.handle_count_change(w.owner, w.watching(), false);
                    }
                }
            };
        }
        self.handles.spare_requests = requests;
    }

    pub(crate) fn set_paused(&mut self, h: HandleId, dir: Dir, paused: bool) -> bool {
        let Some(w) = self.handles.get_mut(h) else {
            return false;
        };
        let edge = w.edge;
        let Some(mode) = w.mode_mut(dir).as_mut() else {
            return false;
        };
        let was_paused = mode.paused;
        mode.paused = paused;
        if edge && dir == Dir::Write {
            if paused {
                w.write_armed = false;
            } else if was_paused && !w.write_armed {
                // Lazy write interest: try at the next poll first.
                self.handles.woken.push((h, Dir::Write));
                return true;
            }
        }
        // Resuming re-arms, so readiness that arrived while paused is seen.
        self.handles.sync(h, !paused);
        true
    }

    /// Adds the woken handles to the poller's report: a direction woken
    /// for a source the poller reported too is set on its entry; other
    /// woken sources are appended, in the order they were woken, each once.
    /// Linear in both lists (a search of the report per woken handle was
    /// quadratic in the busy connections).
    fn merge_woken(&mut self, ready: &mut Vec<Readiness>) {
        if self.handles.woken.is_empty() {
            return;
        }
        let spare = std::mem::take(&mut self.handles.spare_woken);
        let mut woken = std::mem::replace(&mut self.handles.woken, spare);
        for &(h, dir) in &woken {
            if let Some(w) = self.handles.get_mut(h) {
                w.woken |= match dir {
                    Dir::Read => WOKEN_READ,
                    Dir::Write => WOKEN_WRITE,
                };
            }
        }
        for r in ready.iter_mut() {
            if let Some(w) = self.handles.get_mut(HandleId::of_token(r.token)) {
                let bits = std::mem::take(&mut w.woken);
                r.read |= bits & WOKEN_READ != 0;
                r.write |= bits & WOKEN_WRITE != 0;
            }
        }
        for &(h, _) in &woken {
            if let Some(w) = self.handles.get_mut(h) {
                let bits = std::mem::take(&mut w.woken);
                if bits != 0 {
                    ready.push(Readiness {
                        token: h.token(),
                        read: bits & WOKEN_READ != 0,
                        write: bits & WOKEN_WRITE != 0,
                        input_closed: false,
                    });
                }
            }
        }
        woken.clear();
        self.handles.spare_woken = woken;
    }

    /// Calls the watchers of the sources the poll reported ready, and of
    /// those woken by their registrations.
    pub(crate) fn io_dispatch(&mut self, ready: &mut Vec<Readiness>) {
        self.merge_woken(ready);
        for &Readiness {
            token,
            read: readable,
            write: writable,
            input_closed,
        } in ready.iter()
        {
            let h = HandleId::of_token(token);
            if input_closed {
                if let Some(w) = self.handles.get_mut(h) {
                    w.input_closed = true;
                }
            }
            let mut dispatched = false;
            for (dir, is_ready) in [(Dir::Read, readable), (Dir::Write, writable)] {
                if !is_ready {
                    continue;
                }
                let Some(w) = self.handles.get_mut(h) else {
                    break;
                };
                let owner = w.owner;
                let Some(mode) = w.mode_mut(dir).as_ref().filter(|m| m.active()) else {
                    continue;
                };
                // Built whole (two pushes went through every arm of
                // `push`): the handle and mode inline, extra arguments after.
                let mut args = Args::two(h, if dir == Dir::Read { 0 } else { 1 });
                if !mode.args.is_empty() {
                    args.extend(mode.args.iter().cloned());
                }
                let frame = Frame::internal(owner, owner, mode.event.clone());
                let _ = match mode.handler.clone() {
                    Some(handler) => deliver_direct(self, owner, &frame, &mut args, &handler),
                    None => deliver(self, owner, &frame, &mut args),
                };
                dispatched = true;
            }
            let Some(w) = self.handles.get_mut(h) else {
                continue;
            };
            if !w.edge {
                if dispatched {
                    self.handles.sync(h, true);
                }
            } else if writable && !w.write_armed && w.write.as_ref().is_some_and(Mode::active) {
                // A write handler that left its watcher active met
                // `WouldBlock`: now the poller must watch writability.
                w.write_armed = true;
                self.handles.sync(h, false);
            }
        }
    }
}

/// A source watched edge-triggered, for wheels: POE's wheel-owned
/// `select_*` registration.
///
/// The kernel owns the source (reach it with [`KernelHandle::io`]); the
/// registration is what the wheel keeps. Its methods work without a
/// kernel at hand (inside `put`, say): each is applied by the kernel before
/// its next poll. Dropping the registration unwatches the source and drops
/// it, as dropping a POE wheel removes its watchers, so a session whose last
/// wheel is gone can stop.
///
/// Unlike [`KernelHandle::watch`] sources, a registered source is not
/// re-armed after each dispatch: its handlers must drain it (read until
/// `WouldBlock`, or until a short read on a stream socket whose end of
/// input the poller has not reported: see [`KernelHandle::input_closed`]),
/// or call [`wake_read`](Self::wake_read) to be visited at the next poll
/// when they stop early (a read budget).
pub struct Registration {
    h: HandleId,
    owner: SessionId,
    requests: IoRequests,
}

impl Registration {
    /// The source's handle id.
    pub fn id(&self) -> HandleId {
        self.h
    }

    fn ask(&self, r: IoRequest) {
        self.requests.borrow_mut().push(r);
    }

    /// Pauses the read watcher (POE's `select_pause_read`), from the next poll.
    pub fn pause_read(&self) {
        self.ask(IoRequest::Pause(self.h, Dir::Read));
    }

    /// Resumes the read watcher; readiness that arrived meanwhile is reported.
    pub fn resume_read(&self) {
        self.ask(IoRequest::Resume(self.h, Dir::Read));
    }

    /// Pauses the write watcher (POE's `select_pause_write`).
    pub fn pause_write(&self) {
        self.ask(IoRequest::Pause(self.h, Dir::Write));
    }

    /// Resumes the write watcher (POE's `select_resume_write`).
    pub fn resume_write(&self) {
        self.ask(IoRequest::Resume(self.h, Dir::Write));
    }

    /// Calls the read watcher at the next poll even if the OS reports
    /// nothing (a handler that stopped before `WouldBlock`).
    pub fn wake_read(&self) {
        self.ask(IoRequest::Wake(self.h, Dir::Read));
    }

    /// Calls the write watcher at the next poll even if the OS reports nothing.
    pub fn wake_write(&self) {
        self.ask(IoRequest::Wake(self.h, Dir::Write));
    }

    /// Queues `event` for the session that registered the source, as its
    /// own `yield` would, once the running handler has returned (for events
    /// a wheel must send from code that has no kernel at hand).
    pub fn yield_(&self, event: impl Into<EventName>, args: Args) {
        self.ask(IoRequest::Yield(self.owner, event.into(), args));
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.ask(IoRequest::Release(self.h));
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration").field("id", &self.h).finish()
    }
}

impl<H: 'static> Ctx<'_, H> {
    /// Watches `h` for reading with a handler given here rather than a
    /// named state (POE's `$kernel->state($name, $code)` followed by
    /// `select_read($fh, $name)`, which is what POE's wheels do). `name` is
    /// the STATE the handler runs as, and the CALLER_STATE of what it calls:
    /// POE's wheels use `"POE::Wheel::ReadWrite(3) -> select read"`.
    ///
    /// # Errors
    /// As [`KernelHandle::select_read`].
    pub fn select_read_state<F, R>(
        &mut self,
        h: HandleId,
        name: impl Into<EventName>,
        handler: F,
    ) -> Result<(), Error>
    where
        F: Fn(&mut Ctx<'_, H>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.watch_with(h, Dir::Read, name.into(), erase_handler(handler), false)
    }

    /// The write counterpart of [`select_read_state`](Self::select_read_state).
    ///
    /// # Errors
    /// As [`KernelHandle::select_write`].
    pub fn select_write_state<F, R>(
        &mut self,
        h: HandleId,
        name: impl Into<EventName>,
        handler: F,
    ) -> Result<(), Error>
    where
        F: Fn(&mut Ctx<'_, H>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.watch_with(h, Dir::Write, name.into(), erase_handler(handler), false)
    }

    /// [`select_write_state`](Self::select_write_state) already paused (POE's
    /// `select_write` then `select_pause_write`, as ReadWrite does while
    /// nothing is buffered), without telling the poller twice.
    ///
    /// # Errors
    /// As [`KernelHandle::select_write`].
    pub fn select_write_state_paused<F, R>(
        &mut self,
        h: HandleId,
        name: impl Into<EventName>,
        handler: F,
    ) -> Result<(), Error>
    where
        F: Fn(&mut Ctx<'_, H>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.watch_with(h, Dir::Write, name.into(), erase_handler(handler), true)
    }
}

impl<H> Ctx<'_, H> {
    fn watch_with(
        &mut self,
        h: HandleId,
        dir: Dir,
        name: EventName,
        handler: Rc<dyn Any>,
        paused: bool,
    ) -> Result<(), Error> {
        self.kernel
            .set_mode(h, dir, Some((name, Args::new(), Some(handler))), paused)
    }
}

/// A handler closure as the type-erased value a watcher stores.
pub(crate) fn erase_handler<H: 'static, F, R>(handler: F) -> Rc<dyn Any>
where
    F: Fn(&mut Ctx<'_, H>, Args) -> R + 'static,
    R: HandlerReturn,
{
    let boxed: Handler<H> =
        shared_handler(move |ctx, args: &mut Args| handler(ctx, args.take_all()).into_return());
    Rc::new(boxed)
}

impl KernelHandle<'_> {
    fn insert_source<S: Source + Any>(&mut self, source: S, edge: bool) -> HandleId {
        let handles = &mut self.core.handles;
        handles.next_generation = handles.next_generation.wrapping_add(1);
        let generation = handles.next_generation;
        self.core.insert_handle(Watched {
            generation,
            owner: self.frame.session,
            source: Box::new(source),
            read: None,
            write: None,
            edge,
            write_armed: true,
            registered: None,
            input_closed: false,
            woken: 0,
            next_owned: NO_HANDLE,
        })
    }

    /// Hands a mio source to the kernel and returns its id. No event is
    /// watched yet: see [`select_read`](Self::select_read) and
    /// [`select_write`](Self::select_write). The source is registered with
    /// the poller only while a watcher on it is active, and its watchers are
    /// level-triggered, as POE's.
    ///
    /// # Errors
    /// None today; the `Result` keeps room for pollers that register at once.
    pub fn watch<S: Source + Any>(&mut self, source: S) -> io::Result<HandleId> {
        Ok(self.insert_source(source, false))
    }

    /// Hands a source to the kernel for a wheel: edge-triggered, and
    /// released when the returned [`Registration`] is dropped.
    pub fn register<S: Source + Any>(&mut self, source: S) -> Registration {
        let h = self.insert_source(source, true);
        Registration {
            h,
            owner: self.frame.session,
            requests: self.core.handles.requests.clone(),
        }
    }

    /// Whether the poller has reported the end of the peer's output, or an
    /// error, for source `h` (mio's `is_read_closed` or `is_error`), at any
    /// poll so far; `true` for an unknown handle (the answer that keeps a
    /// reader reading). Rust-only: POE reads once per level-triggered
    /// select event and needs no such thing.
    ///
    /// What it is for: a [registered](Self::register) (edge-triggered)
    /// stream source must be read until `WouldBlock`, unless a read fills
    /// less than the buffer it was given *and* this is `false`: then the
    /// socket's receive buffer is proven empty (epoll(7): "if read(2)
    /// returns a lower number of bytes, you can be sure of having exhausted
    /// the read I/O space"), and any data or end of file that arrives later
    /// is reported by the next poll. That saves the `read` that would only
    /// return `WouldBlock`, as tokio and libuv do. An end of file that had
    /// already arrived when the poller last looked is reported with the
    /// readiness, which is what this flag remembers: with it set, read on
    /// until `read` returns 0 or `WouldBlock`.
    pub fn input_closed(&self, h: HandleId) -> bool {
        self.core
            .handles
            .slab
            .get(h.key())
            .filter(|w| w.generation == h.generation())
            .map_or(true, |w| w.input_closed)
    }

    /// Borrows a watched source as its own type.
    pub fn io<S: Any>(&mut self, h: HandleId) -> Option<&mut S> {
        self.core
            .handles
            .get_mut(h)?
            .source
            .as_any()
            .downcast_mut::<S>()
    }

    /// Takes a source back from the kernel: stops every watcher on it and
    /// deregisters it.
    ///
    /// # Errors
    /// [`Error::NoSuchHandle`] for an unknown id, [`Error::NotPermitted`] for
    /// another session's handle, [`Error::InvalidArgument`] if `S` is not the
    /// source's type (it stays watched).
    pub fn unwatch<S: Any>(&mut self, h: HandleId) -> Result<S, Error> {
        self.owned(h)?;
        if !self.core.handles.slab[h.key()].source.as_any().is::<S>() {
            return Err(Error::InvalidArgument(
                "unwatch: the source has another type",
            ));
        }
        let w = self.core.remove_handle(h).ok_or(Error::NoSuchHandle)?;
        self.core.handle_count_change(w.owner, w.watching(), false);
        let any = w.source.into_any();
        Ok(*any
            .downcast::<S>()
            .unwrap_or_else(|_| unreachable!("type checked above")))
    }

    fn owned(&mut self, h: HandleId) -> Result<(), Error> {
        let me = self.frame.session;
        match self.core.handles.get_mut(h) {
            None => Err(Error::NoSuchHandle),
            Some(w) if w.owner != me => {
                Err(Error::NotPermitted("the handle belongs to another session"))
            }
            Some(_) => Ok(()),
        }
    }

    /// Sets (`Some`) or removes (`None`) a mode's watcher; a new watcher
    /// starts `paused` or not.
    fn set_mode(
        &mut self,
        h: HandleId,
        dir: Dir,
        watcher: Option<Watcher>,
        paused: bool,
    ) -> Result<(), Error> {
        self.owned(h)?;
        let w = self.core.handles.get_mut(h).ok_or(Error::NoSuchHandle)?;
        let before = w.watching();
        let slot = w.mode_mut(dir);
        match (watcher, slot.as_mut()) {
            // POE: watching a watched handle again only resumes it.
            (Some((_, _, None)), Some(mode)) => mode.paused = false,
            (Some((event, args, handler)), _) => {
                *slot = Some(Mode {
                    event,
                    args,
                    paused,
                    handler,
                })
            }
            (None, _) => *slot = None,
        }
        if paused && dir == Dir::Write {
            w.write_armed = false;
        }
        let (owner, after) = (w.owner, w.watching());
        self.core.handle_count_change(owner, before, after);
        self.core.handles.sync(h, !paused);
        Ok(())
    }

    /// Calls `event` whenever the source is readable (POE's
    /// `select_read($fh, event, @args)`); watching an already watched handle
    /// only resumes it. The watcher keeps the session alive.
    ///
    /// # Errors
    /// [`Error::NoSuchHandle`], or [`Error::NotPermitted`] for another
    /// session's handle.
    pub fn select_read(
        &mut self,
        h: HandleId,
        event: impl Into<EventName>,
        args: Args,
    ) -> Result<(), Error> {
        self.set_mode(h, Dir::Read, Some((event.into(), args, None)), false)
    }

    /// Stops watching for reading (POE's `select_read($fh)`).
    ///
    /// # Errors
    /// As [`select_read`](Self::select_read).
    pub fn select_read_remove(&mut self, h: HandleId) -> Result<(), Error> {
        self.set_mode(h, Dir::Read, None, false)
    }

    /// Calls `event` whenever the source is writable (POE's `select_write`).
    ///
    /// # Errors
    /// As [`select_read`](Self::select_read).
    pub fn select_write(
        &mut self,
        h: HandleId,
        event: impl Into<EventName>,
        args: Args,
    ) -> Result<(), Error> {
        self.set_mode(h, Dir::Write, Some((event.into(), args, None)), false)
    }

    /// Stops watching for writing (POE's `select_write($fh)`).
    ///
    /// # Errors
    /// As [`select_read`](Self::select_read).
    pub fn select_write_remove(&mut self, h: HandleId) -> Result<(), Error> {
        self.set_mode(h, Dir::Write, None, false)
    }

    /// Pauses the read watcher, keeping it (it still holds the session);
    /// `true` if the handle is watched for reading (POE's `select_pause_read`).
    pub fn select_pause_read(&mut self, h: HandleId) -> bool {
        self.core.set_paused(h, Dir::Read, true)
    }

    /// Resumes a paused read watcher (POE's `select_resume_read`).
    pub fn select_resume_read(&mut self, h: HandleId) -> bool {
        self.core.set_paused(h, Dir::Read, false)
    }

    /// Pauses the write watcher (POE's `select_pause_write`).
    pub fn select_pause_write(&mut self, h: HandleId) -> bool {
        self.core.set_paused(h, Dir::Write, true)
    }

    /// Resumes a paused write watcher (POE's `select_resume_write`).
    pub fn select_resume_write(&mut self, h: HandleId) -> bool {
        self.core.set_paused(h, Dir::Write, false)
    }
}
