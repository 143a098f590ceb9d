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
use std::fmt;
use std::io;

use mio::event::Source;
use mio::{Interest, Registry, Token};
use slab::Slab;

use super::core::Core;
use super::ctx::{Frame, KernelHandle};
use super::dispatch::deliver;
use super::{Args, Error, EventName, FromArg, SessionId, Value};

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

/// One mode's watcher.
struct Mode {
    event: EventName,
    args: Args,
    paused: bool,
}

struct Watched {
    generation: u32,
    owner: SessionId,
    source: Box<dyn AnySource>,
    read: Option<Mode>,
    write: Option<Mode>,
}

impl Watched {
    fn watching(&self) -> bool {
        self.read.is_some() || self.write.is_some()
    }
}

/// The kernel's table of watched sources.
pub(crate) struct Handles {
    slab: Slab<Watched>,
    next_generation: u32,
    registry: Registry,
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
enum Dir {
    Read,
    Write,
}

impl Handles {
    pub fn new(registry: Registry) -> Self {
        Handles {
            slab: Slab::new(),
            next_generation: 0,
            registry,
        }
    }

    fn get_mut(&mut self, h: HandleId) -> Option<&mut Watched> {
        self.slab
            .get_mut(h.key())
            .filter(|w| w.generation == h.generation())
    }

    /// Re-arms the source so that readiness it still has is reported again.
    fn rearm(&mut self, h: HandleId) {
        let registry = &self.registry;
        if let Some(w) = self
            .slab
            .get_mut(h.key())
            .filter(|w| w.generation == h.generation())
        {
            if let Err(e) = registry.reregister(
                w.source.source(),
                h.token(),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                log::warn!("re-arming handle {} failed: {e}", h.0);
            }
        }
    }

    /// The handles owned by `sid`.
    fn owned_by(&self, sid: SessionId) -> Vec<HandleId> {
        self.slab
            .iter()
            .filter(|(_, w)| w.owner == sid)
            .map(|(k, w)| HandleId::new(k, w.generation))
            .collect()
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
        for h in self.handles.owned_by(sid) {
            let registry = &self.handles.registry;
            if let Some(mut w) = self.handles.slab.try_remove(h.key()) {
                let _ = registry.deregister(w.source.source());
                if w.watching() {
                    self.handle_total -= 1;
                }
            }
        }
    }

    /// Calls the watchers of the sources the poll reported ready.
    pub(crate) fn io_dispatch(&mut self, ready: &[(Token, bool, bool)]) {
        for &(token, readable, writable) in ready {
            let h = HandleId(token.0 as u64);
            for (dir, is_ready) in [(Dir::Read, readable), (Dir::Write, writable)] {
                if !is_ready {
                    continue;
                }
                let Some(w) = self.handles.get_mut(h) else {
                    break;
                };
                let owner = w.owner;
                let mode = match dir {
                    Dir::Read => w.read.as_ref(),
                    Dir::Write => w.write.as_ref(),
                };
                let Some(mode) = mode.filter(|m| !m.paused) else {
                    continue;
                };
                let mut args = Args::new();
                args.push(h);
                args.push(if dir == Dir::Read { 0 } else { 1 });
                args.extend(mode.args.iter().cloned());
                let frame = Frame::internal(owner, owner, mode.event.clone());
                let _ = deliver(self, owner, frame, args);
            }
            if self.handles.get_mut(h).is_some_and(|w| w.watching()) {
                self.handles.rearm(h);
            }
        }
    }
}

impl KernelHandle<'_> {
    /// Hands a mio source to the kernel, registered for readiness, and
    /// returns its id. No event is watched yet: see
    /// [`select_read`](Self::select_read) and
    /// [`select_write`](Self::select_write).
    ///
    /// # Errors
    /// The OS error if registering with the poller fails.
    pub fn watch<S: Source + Any>(&mut self, source: S) -> io::Result<HandleId> {
        let handles = &mut self.core.handles;
        handles.next_generation = handles.next_generation.wrapping_add(1);
        let generation = handles.next_generation;
        let entry = handles.slab.vacant_entry();
        let h = HandleId::new(entry.key(), generation);
        let mut watched = Watched {
            generation,
            owner: self.frame.session,
            source: Box::new(source),
            read: None,
            write: None,
        };
        handles.registry.register(
            watched.source.source(),
            h.token(),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(watched);
        Ok(h)
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
        let mut w = self.core.handles.slab.remove(h.key());
        let _ = self.core.handles.registry.deregister(w.source.source());
        let owner = w.owner;
        self.core.handle_count_change(owner, w.watching(), false);
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

    fn set_mode(
        &mut self,
        h: HandleId,
        dir: Dir,
        watcher: Option<(EventName, Args)>,
    ) -> Result<(), Error> {
        self.owned(h)?;
        let w = self.core.handles.get_mut(h).ok_or(Error::NoSuchHandle)?;
        let before = w.watching();
        let slot = match dir {
            Dir::Read => &mut w.read,
            Dir::Write => &mut w.write,
        };
        match (watcher, slot.as_mut()) {
            // POE: watching a watched handle again only resumes it.
            (Some(_), Some(mode)) => mode.paused = false,
            (Some((event, args)), None) => {
                *slot = Some(Mode {
                    event,
                    args,
                    paused: false,
                })
            }
            (None, _) => *slot = None,
        }
        let (owner, after) = (w.owner, w.watching());
        self.core.handle_count_change(owner, before, after);
        if after {
            self.core.handles.rearm(h);
        }
        Ok(())
    }

    fn set_paused(&mut self, h: HandleId, dir: Dir, paused: bool) -> bool {
        let Some(w) = self.core.handles.get_mut(h) else {
            return false;
        };
        let mode = match dir {
            Dir::Read => w.read.as_mut(),
            Dir::Write => w.write.as_mut(),
        };
        let Some(mode) = mode else { return false };
        mode.paused = paused;
        if !paused {
            self.core.handles.rearm(h);
        }
        true
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
        self.set_mode(h, Dir::Read, Some((event.into(), args)))
    }

    /// Stops watching for reading (POE's `select_read($fh)`).
    ///
    /// # Errors
    /// As [`select_read`](Self::select_read).
    pub fn select_read_remove(&mut self, h: HandleId) -> Result<(), Error> {
        self.set_mode(h, Dir::Read, None)
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
        self.set_mode(h, Dir::Write, Some((event.into(), args)))
    }

    /// Stops watching for writing (POE's `select_write($fh)`).
    ///
    /// # Errors
    /// As [`select_read`](Self::select_read).
    pub fn select_write_remove(&mut self, h: HandleId) -> Result<(), Error> {
        self.set_mode(h, Dir::Write, None)
    }

    /// Pauses the read watcher, keeping it (it still holds the session);
    /// `true` if the handle is watched for reading (POE's `select_pause_read`).
    pub fn select_pause_read(&mut self, h: HandleId) -> bool {
        self.set_paused(h, Dir::Read, true)
    }

    /// Resumes a paused read watcher (POE's `select_resume_read`).
    pub fn select_resume_read(&mut self, h: HandleId) -> bool {
        self.set_paused(h, Dir::Read, false)
    }

    /// Pauses the write watcher (POE's `select_pause_write`).
    pub fn select_pause_write(&mut self, h: HandleId) -> bool {
        self.set_paused(h, Dir::Write, true)
    }

    /// Resumes a paused write watcher (POE's `select_resume_write`).
    pub fn select_resume_write(&mut self, h: HandleId) -> bool {
        self.set_paused(h, Dir::Write, false)
    }
}
