//! `Ctx` and `KernelHandle`: what a handler sees (POE's `@_`).
//!
//! POE hands every handler `$_[KERNEL]`, `$_[HEAP]`, `$_[SESSION]`,
//! `$_[SENDER]`, `$_[STATE]` and `$_[CALLER_STATE]`. Here a handler gets a
//! `&mut Ctx<H>`: `ctx.heap` is the typed heap, and the kernel's methods are
//! on `ctx` itself (or on `ctx.kernel`, a separate field, so the heap can stay
//! borrowed across them).

use std::ops::{Deref, DerefMut};

use super::core::Core;
use super::dispatch::deliver;
use super::queue::{Event, Kind};
use super::session::sealed::{Active, Sealed};
use super::session::{
    dispatch_with, invoke, invoke_for_effect, Guard, Handler, SessionHost, States,
};
use super::{unboxed, Args, Error, EventName, Outcome, SessionId, Target, Value};

/// Who is running and why: the fields of POE's `@_` besides the heap.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct Frame {
    /// SESSION.
    pub(crate) session: SessionId,
    /// SENDER.
    pub(crate) sender: SessionId,
    /// STATE: the event being handled (`_default` when redirected).
    pub(crate) state: EventName,
    /// CALLER_STATE.
    pub(crate) caller_state: Option<EventName>,
    /// What `get_active_event` returns; a self-call keeps the outer one.
    pub(crate) active: ActiveEvent,
}

/// A frame's active event (see [`Frame::active_event`]): nearly always its
/// own STATE, which is then not stored a second time (a clone to make and
/// a name to test at every drop).
#[derive(Clone, Debug)]
pub(crate) enum ActiveEvent {
    /// None: code outside any handler.
    None,
    /// The frame's STATE.
    State,
    /// Another event's name: a self-call's outer event, or the event that a
    /// `_default` handler was redirected from.
    Name(EventName),
}

impl From<Option<&EventName>> for ActiveEvent {
    /// Another frame's active event, held by name.
    #[inline(always)]
    fn from(name: Option<&EventName>) -> Self {
        match name {
            Some(name) => ActiveEvent::Name(name.clone()),
            None => ActiveEvent::None,
        }
    }
}

impl Frame {
    /// The frame of code running outside any handler.
    pub(crate) fn kernel() -> Self {
        Frame {
            session: SessionId::KERNEL,
            sender: SessionId::KERNEL,
            state: EventName::from_static(""),
            caller_state: None,
            active: ActiveEvent::None,
        }
    }

    /// What `get_active_event` returns, and what posts and calls made now
    /// carry as CALLER_STATE.
    #[inline(always)]
    pub(crate) fn active_event(&self) -> Option<&EventName> {
        match &self.active {
            ActiveEvent::None => None,
            ActiveEvent::State => Some(&self.state),
            ActiveEvent::Name(name) => Some(name),
        }
    }

    /// Drops the frame, its names tested in place: when all three are
    /// static (nearly every frame), nothing needs dropping and the frame is
    /// forgotten; otherwise it is dropped out of line. (The frame's drop
    /// glue was left out of line on the path of every queued event, and
    /// dropping its names one by one moved each to a temporary to test it.)
    #[inline(always)]
    pub(crate) fn drop_names(self) {
        let other_shared = matches!(&self.active, ActiveEvent::Name(name) if name.is_shared());
        if self.state.is_shared()
            || self.caller_state.as_ref().is_some_and(EventName::is_shared)
            || other_shared
        {
            drop_frame(self);
        } else {
            std::mem::forget(self);
        }
    }

    /// A kernel-generated event (`_start`, `_stop`, `_child`, `_parent`,
    /// signal watchers): no CALLER_STATE unless given.
    pub(crate) fn internal(session: SessionId, sender: SessionId, state: EventName) -> Self {
        Frame {
            session,
            sender,
            state,
            caller_state: None,
            active: ActiveEvent::State,
        }
    }
}

/// Drops a frame that holds a shared name.
#[inline(never)]
fn drop_frame(frame: Frame) {
    drop(frame);
}

/// A handler's view of the kernel: POE's `$_[KERNEL]` together with
/// `$_[SESSION]`, `$_[SENDER]`, `$_[STATE]` and `$_[CALLER_STATE]`.
///
/// Every method acts on behalf of the session whose handler is running.
/// Reached as `ctx.kernel`, or through `ctx` directly.
pub struct KernelHandle<'a> {
    pub(crate) core: &'a mut Core,
    pub(crate) frame: &'a Frame,
}

/// The context of one handler invocation.
///
/// `ctx.heap` is the session's heap (POE's `$_[HEAP]`); kernel methods are
/// called on `ctx` (through `Deref` to [`KernelHandle`]) or on `ctx.kernel`
/// when the heap must stay borrowed at the same time:
///
/// ```
/// use rpoe::{args, Ctx, Args};
/// struct Heap { lines: Vec<String> }
/// fn got_line(ctx: &mut Ctx<Heap>, _args: Args) {
///     let lines = &mut ctx.heap.lines;       // heap borrowed...
///     lines.push("x".into());
///     ctx.kernel.yield_("flush", args![]);    // ...while the kernel is used
///     lines.push("y".into());
/// }
/// ```
pub struct Ctx<'a, H> {
    /// The session's heap (POE's `$_[HEAP]`).
    pub heap: &'a mut H,
    /// The kernel, acting for this session (POE's `$_[KERNEL]`).
    pub kernel: KernelHandle<'a>,
    pub(crate) states: &'a States<H>,
}

impl<'a, H> Deref for Ctx<'a, H> {
    type Target = KernelHandle<'a>;
    fn deref(&self) -> &KernelHandle<'a> {
        &self.kernel
    }
}

impl<'a, H> DerefMut for Ctx<'a, H> {
    fn deref_mut(&mut self) -> &mut KernelHandle<'a> {
        &mut self.kernel
    }
}

impl<H: 'static> Ctx<'_, H> {
    /// Synchronously delivers `event` and returns what its handler returned
    /// (POE's `$kernel->call`). Unlike [`KernelHandle::call`], this also
    /// works for the current session itself (POE's frequent
    /// `$kernel->call($_[SESSION], ...)`): the handler runs at once with the
    /// same heap, SENDER = this session, and `get_active_event` and the
    /// CALLER_STATE of anything it posts stay those of the outer event, as
    /// in POE.
    ///
    /// # Errors
    /// [`Error::NoSuchSession`], [`Error::NoHandler`], [`Error::Handler`],
    /// and [`Error::Reentrant`] for a call into a session whose handler is
    /// already running further up the stack (A calls B calls A).
    #[inline(always)]
    pub fn call<'t>(
        &mut self,
        target: impl Into<Target<'t>>,
        event: impl Into<EventName>,
        args: Args,
    ) -> Result<Value, Error> {
        let sid = match target.into() {
            // An id needs no lookup here: delivery finds the session (or
            // fails with the same NoSuchSession a lookup would give).
            Target::Id(sid) => sid,
            target => self.kernel.core.resolve(target)?,
        };
        let event = event.into();
        unboxed(if sid == self.kernel.frame.session {
            let frame = self.self_call_frame(event);
            let mut args = args;
            self.dispatch_self(&frame, &mut args)
        } else {
            self.kernel.call_other(sid, event, args)
        })
    }
}

/// A call to the running session's own handler, looked up once and made
/// many times: how a wheel delivers a read's worth of records as its
/// InputEvent without looking the handler up for each. Made by
/// [`Ctx::prepare_call`], used with [`Ctx::call_prepared`]. Rust-only (POE
/// has no such thing; its `call` looks the state up every time).
///
/// A prepared call carries the CALLER_STATE of the handler that made it,
/// so it is meant to be used within that handler's run; a session's
/// handlers cannot change after it is created, so the handler found stays
/// the right one.
pub struct SelfCall<H> {
    frame: Frame,
    handler: Option<Handler<H>>,
}

impl<H> SelfCall<H> {
    /// The event this call delivers.
    pub fn event(&self) -> &EventName {
        &self.frame.state
    }
}

impl<H> std::fmt::Debug for SelfCall<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfCall")
            .field("session", &self.frame.session)
            .field("event", &self.frame.state)
            .field("found", &self.handler.is_some())
            .finish()
    }
}

impl<H: 'static> Ctx<'_, H> {
    /// Looks up this session's handler for `event` once, for
    /// [`call_prepared`](Self::call_prepared).
    pub fn prepare_call(&self, event: impl Into<EventName>) -> SelfCall<H> {
        let event = event.into();
        SelfCall {
            handler: self.states.get(&event).cloned(),
            frame: self.self_call_frame(event),
        }
    }

    /// The frame of a call to this session itself: SENDER is the session,
    /// and CALLER_STATE and the active event stay those of the outer event.
    #[inline]
    fn self_call_frame(&self, event: EventName) -> Frame {
        let me = self.kernel.frame.session;
        let outer = self.kernel.frame.active_event();
        Frame {
            session: me,
            sender: me,
            state: event,
            caller_state: outer.cloned(),
            active: outer.into(),
        }
    }

    /// The same as `ctx.call(ctx.session(), event, args)` for the event
    /// `call` was prepared for (SENDER, STATE, CALLER_STATE, `_default`
    /// and errors alike), without the lookup.
    ///
    /// # Errors
    /// As [`Ctx::call`]; [`Error::InvalidArgument`] if `call` was prepared
    /// in another session.
    #[inline]
    pub fn call_prepared(&mut self, call: &SelfCall<H>, args: Args) -> Result<Value, Error> {
        unboxed(self.call_prepared_outcome(call, args))
    }

    #[inline]
    fn call_prepared_outcome(&mut self, call: &SelfCall<H>, args: Args) -> Outcome {
        if call.frame.session != self.kernel.frame.session {
            return Err(Box::new(Error::InvalidArgument(
                "a prepared call is for the session that prepared it",
            )));
        }
        let mut args = args;
        match &call.handler {
            Some(handler) => invoke(
                self.heap,
                self.states,
                self.kernel.core,
                &call.frame,
                &mut args,
                handler,
                Guard::Inside,
            ),
            None => self.dispatch_self(&call.frame, &mut args),
        }
    }
}

impl<H: 'static> Ctx<'_, H> {
    /// [`call_prepared`](Self::call_prepared) for a caller that ignores the
    /// handler's value (a wheel's InputEvent, as POE's ReadWrite ignores
    /// it): failures are logged, nothing is returned, and the value is
    /// dropped where the handler left it.
    #[inline]
    pub(crate) fn call_prepared_for_effect(&mut self, call: &SelfCall<H>, args: &mut Args) {
        match &call.handler {
            Some(handler) if call.frame.session == self.kernel.frame.session => {
                invoke_for_effect(
                    self.heap,
                    self.states,
                    self.kernel.core,
                    &call.frame,
                    args,
                    handler,
                );
            }
            _ => crate::kernel::discard(self.call_prepared_outcome(call, std::mem::take(args))),
        }
    }
}

impl<H: 'static> Sealed for Ctx<'_, H> {
    fn active(&mut self) -> &mut dyn Active {
        self
    }
}
impl<H: 'static> SessionHost for Ctx<'_, H> {}

impl<H: 'static> Active for Ctx<'_, H> {
    fn active_id(&self) -> SessionId {
        self.kernel.frame.session
    }
    fn core(&mut self) -> &mut Core {
        self.kernel.core
    }
    fn dispatch_self(&mut self, frame: &Frame, args: &mut Args) -> Outcome {
        dispatch_with(
            self.heap,
            self.states,
            self.kernel.core,
            frame,
            args,
            Guard::Inside,
        )
    }
}

impl KernelHandle<'_> {
    /// SESSION: the session whose handler is running
    /// (POE's `$_[SESSION]` and `get_active_session`).
    #[inline]
    pub fn session(&self) -> SessionId {
        self.frame.session
    }

    /// SENDER: who sent the event being handled (see the table in the
    /// crate docs for each delivery path).
    #[inline]
    pub fn sender(&self) -> SessionId {
        self.frame.sender
    }

    /// STATE: the name of the event being handled; `_default` when the
    /// event was redirected there.
    #[inline]
    pub fn state(&self) -> &str {
        self.frame.state.as_str()
    }

    /// CALLER_STATE: the event that was active in the sender when this one
    /// was posted or called; `None` for kernel-generated events.
    pub fn caller_state(&self) -> Option<&str> {
        self.frame.caller_state.as_ref().map(EventName::as_str)
    }

    /// POE's `get_active_event`: the event the kernel is dispatching. A
    /// self-call keeps the outer event, as in POE.
    pub fn get_active_event(&self) -> &str {
        self.frame.active_event().map_or("", EventName::as_str)
    }

    /// POE's `get_active_session`: the same as [`session`](Self::session).
    pub fn get_active_session(&self) -> SessionId {
        self.frame.session
    }

    /// Queues `event` for `target` (POE's `$kernel->post`). The target is
    /// resolved now; the event is delivered after everything queued before
    /// it, with SENDER = this session.
    ///
    /// # Errors
    /// [`Error::NoSuchSession`] if `target` resolves to no session (POE:
    /// `undef` with `$!` = ESRCH); nothing is queued.
    #[inline(always)]
    pub fn post<'t>(
        &mut self,
        target: impl Into<Target<'t>>,
        event: impl Into<EventName>,
        mut args: Args,
    ) -> Result<(), Error> {
        let dest = match target.into() {
            // An id is checked where its "events to" count is taken: one
            // lookup of the session, not two.
            Target::Id(sid) => sid,
            target => self.core.resolve(target)?,
        };
        let source = self.frame.session;
        // Rebuilt field by field where they own nothing (see
        // `Args::take_all`): moved whole, arguments just built by `args!`
        // were copied through the stack three times, the first copies
        // waiting on the stores that built them.
        self.core.count_post(dest, source)?;
        self.core.queue.push_post(
            self.core.now,
            Event {
                dest,
                source,
                name: event.into(),
                args: args.take_all(),
                kind: Kind::Post,
                caller_state: self.frame.active_event().cloned(),
            },
        );
        Ok(())
    }

    /// Queues `event` for this session itself (POE's `$kernel->yield`;
    /// `yield` is a Rust keyword, hence the underscore).
    #[inline(always)]
    pub fn yield_(&mut self, event: impl Into<EventName>, args: Args) {
        let me = self.frame.session;
        self.queue_event(me, event.into(), args, Kind::Post);
    }

    #[inline(always)]
    pub(crate) fn queue_event(
        &mut self,
        dest: SessionId,
        name: EventName,
        mut args: Args,
        kind: Kind,
    ) {
        // As in `post`.
        self.core.enqueue(Event {
            dest,
            source: self.frame.session,
            name,
            args: args.take_all(),
            kind,
            caller_state: self.frame.active_event().cloned(),
        });
    }

    /// Synchronously delivers `event` to *another* session and returns its
    /// handler's value (POE's `call`). Use [`Ctx::call`] to reach the
    /// current session too; from here, that returns [`Error::Reentrant`].
    ///
    /// # Errors
    /// As [`Ctx::call`].
    pub fn call<'t>(
        &mut self,
        target: impl Into<Target<'t>>,
        event: impl Into<EventName>,
        args: Args,
    ) -> Result<Value, Error> {
        let sid = self.core.resolve(target.into())?;
        unboxed(self.call_other(sid, event.into(), args))
    }

    #[inline(always)]
    pub(crate) fn call_other(
        &mut self,
        sid: SessionId,
        event: EventName,
        mut args: Args,
    ) -> Outcome {
        if sid.is_kernel() {
            return Err(Box::new(Error::NoHandler {
                session: sid,
                event,
            }));
        }
        let frame = Frame {
            session: sid,
            sender: self.frame.session,
            state: event,
            caller_state: self.frame.active_event().cloned(),
            active: ActiveEvent::State,
        };
        // As in `post`.
        let mut args = args.take_all();
        deliver(self.core, sid, &frame, &mut args)
    }

    /// POE's `POE::Kernel->stop`: stops every session, deepest and newest
    /// first, delivering `_stop` and `_child(lose)` (SPEC §10.1: POE's docs
    /// say no notification; its code sends them). Called from a handler, the
    /// stop happens as soon as the outermost handler now running returns.
    pub fn stop(&mut self) {
        self.core.stop_requested = Some(self.frame.session);
    }

    /// The parent of a session (the kernel for top-level sessions).
    pub fn get_parent(&self, session: SessionId) -> Option<SessionId> {
        self.core.entry(session).map(|e| e.parent)
    }

    /// The children of a session (or of the kernel), in creation order.
    pub fn get_children(&self, session: SessionId) -> Vec<SessionId> {
        self.core.children_of(session)
    }

    /// How many sessions are alive (the kernel not counted).
    pub fn session_count(&self) -> usize {
        self.core.session_count()
    }

    /// POE's `get_event_count`: how many events and timers are queued.
    pub fn get_event_count(&self) -> usize {
        self.core.queue.len()
    }
}

impl std::fmt::Debug for KernelHandle<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelHandle")
            .field("session", &self.frame.session)
            .field("state", &self.frame.state)
            .finish()
    }
}

impl<H> std::fmt::Debug for Ctx<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("kernel", &self.kernel).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame forgotten when its names are all static must still let go
    /// of a shared name in any of its three places (a forgotten shared
    /// name would leak its text).
    #[test]
    fn dropping_a_frame_lets_go_of_its_shared_names() {
        let shared = EventName::from(String::from("made_at_run_time"));
        let places: [fn(&EventName) -> Frame; 3] = [
            |n| Frame::internal(SessionId::KERNEL, SessionId::KERNEL, n.clone()),
            |n| Frame {
                caller_state: Some(n.clone()),
                ..Frame::kernel()
            },
            |n| Frame {
                active: ActiveEvent::Name(n.clone()),
                ..Frame::kernel()
            },
        ];
        for make in places {
            let frame = make(&shared);
            assert!(shared.share_count().unwrap() > 1);
            frame.drop_names();
            assert_eq!(shared.share_count(), Some(1));
        }
        let frame = Frame::internal(SessionId::KERNEL, SessionId::KERNEL, "_start".into());
        frame.drop_names();
        assert_eq!(shared.share_count(), Some(1));
    }
}
