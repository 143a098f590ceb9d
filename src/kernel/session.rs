//! `Session`: POE::Session->create, with a typed heap and named states.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use super::core::Core;
use super::ctx::{Ctx, Frame, KernelHandle};
use super::exceptions::{panicked, Who};
use super::fxhash::FxBuild;
use super::lifecycle;
use super::stateless::{is_stateless, shared_handler, Pending};
use super::{
    discard, Args, Error, EventName, HandlerError, HandlerReturn, Outcome, SessionId, Value,
};

/// A state handler: POE's `sub { my ($kernel, $heap, ...) = @_[...]; ... }`.
pub(crate) type Handler<H> = StateHandler<H>;

/// A handler already made into the form a session's state table keeps:
/// a shared closure returning the handler's outcome. It is given the
/// event's arguments where the kernel keeps them and takes them from there
/// (`std::mem::take`, or [`Args::take_all`](crate::Args::take_all)), so
/// that they are moved once, into the program's own handler, not at every
/// step on the way to it. Built once, it can be
/// registered in many tables ([`StateTable::handler_state`]) and is called
/// directly, with no wrapper of its own (what a component does with a
/// program's callback that is itself a state, as Server::TCP's
/// `ClientInput`).
pub type StateHandler<H> = Rc<dyn Fn(&mut Ctx<'_, H>, &mut Args) -> Result<Value, HandlerError>>;

/// A session's handlers by event name.
pub(crate) type States<H> = HashMap<EventName, Handler<H>, FxBuild>;

/// A session under construction: POE's `POE::Session->create(...)`.
///
/// The heap is any type of the user's own (`H`); handlers receive it typed,
/// as `ctx.heap`, with no downcasting. States are closures
/// ([`inline_state`](Self::inline_state)) or functions of the heap's type
/// ([`object_state`](Self::object_state), [`package_state`](Self::package_state)).
/// [`create`](Self::create) runs `_start` synchronously and returns the new
/// session's id.
///
/// ```
/// use rpoe::{args, Kernel, Session, ARG0};
///
/// #[derive(Default)]
/// struct Counter { count: i64 }
///
/// let mut kernel = Kernel::new().unwrap();
/// let id = Session::new(Counter::default())
///     .args(args![3])
///     .inline_state("_start", |ctx, args| {
///         ctx.heap.count = args.get(ARG0)?;
///         ctx.yield_("tick", args![]);
///         Ok::<_, rpoe::ArgError>(())
///     })
///     .inline_state("tick", |ctx, _args| {
///         ctx.heap.count -= 1;
///         if ctx.heap.count > 0 {
///             ctx.yield_("tick", args![]);
///         }
///     })
///     .create(&mut kernel)
///     .unwrap();
/// assert_eq!(id.id(), 1);
/// kernel.run().unwrap();
/// ```
pub struct Session<H> {
    heap: H,
    own: StateTable<H>,
    /// Handlers that are stateless closures, while they are all the
    /// session has (and `own` is empty): see [`Pending`].
    pending: Pending<H>,
    shared: Option<SharedStates<H>>,
    args: Args,
    options: Vec<(String, Value)>,
}

impl<H: 'static> Session<H> {
    /// A session with this heap (POE's `heap => ...`) and no states yet.
    pub fn new(heap: H) -> Self {
        Session {
            heap,
            own: StateTable::new(),
            pending: Pending::new(),
            shared: None,
            args: Args::new(),
            options: Vec::new(),
        }
    }

    /// Adds a handler given as a closure (POE's `inline_states`).
    /// A later handler for the same name replaces an earlier one.
    #[inline]
    pub fn inline_state<F, R>(mut self, name: impl Into<EventName>, handler: F) -> Self
    where
        F: Fn(&mut Ctx<'_, H>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        let name = name.into();
        if is_stateless::<F>() && self.own.states.is_empty() {
            match self.pending.add::<F>(name, Box::new(move || wrap(handler))) {
                Ok(()) => return self,
                Err((name, make)) => {
                    self.pending.drain_into(&mut self.own.states);
                    self.own.states.insert(name, make());
                    return self;
                }
            }
        }
        self.pending.drain_into(&mut self.own.states);
        self.own = self.own.inline_state(name, handler);
        self
    }

    /// Adds a handler that is a function of the heap's type (POE's
    /// `object_states`): `Session::new(obj).object_state("tick", Obj::tick)`
    /// where `fn tick(ctx: &mut Ctx<Self>, args: Args)`. The object is the
    /// heap, reached as `ctx.heap` (POE's `$_[OBJECT]`).
    pub fn object_state<R: HandlerReturn + 'static>(
        self,
        name: impl Into<EventName>,
        method: fn(&mut Ctx<'_, H>, Args) -> R,
    ) -> Self {
        self.inline_state(name, method)
    }

    /// Adds a handler that is an associated function of a type (POE's
    /// `package_states`); the same as [`object_state`](Self::object_state)
    /// in Rust, kept for porters looking for the name.
    pub fn package_state<R: HandlerReturn + 'static>(
        self,
        name: impl Into<EventName>,
        function: fn(&mut Ctx<'_, H>, Args) -> R,
    ) -> Self {
        self.inline_state(name, function)
    }

    /// The arguments `_start` receives as ARG0.. (POE's `args => [...]`).
    pub fn args(mut self, args: Args) -> Self {
        self.args = args;
        self
    }

    /// Sets a session option at creation (POE's `options => { name => value }`):
    /// `trace` logs each dispatch to the session at info level, `default`
    /// warns about events with no handler; see [`KernelHandle::option`].
    ///
    /// [`KernelHandle::option`]: crate::KernelHandle::option
    pub fn option(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.options.push((name.to_owned(), value.into()));
        self
    }

    /// A session whose handlers are a table shared with other sessions
    /// (see [`SharedStates`]); states added with
    /// [`inline_state`](Self::inline_state) are the session's own, and win.
    pub fn with_shared_states(heap: H, states: &SharedStates<H>) -> Self {
        let mut s = Session::new(heap);
        s.shared = Some(states.clone());
        s
    }

    /// Whether a handler for `name` has been added.
    pub fn has_state(&self, name: &str) -> bool {
        self.own.states.contains_key(name)
            || self.pending.contains(name)
            || self
                .shared
                .as_ref()
                .is_some_and(|t| t.0.states.contains_key(name))
    }

    /// Creates the session (POE's `POE::Session->create`): allocates its id,
    /// makes it a child of the creating session (`host` is the [`Kernel`]
    /// outside handlers, or the handler's [`Ctx`] inside one), runs `_start`
    /// synchronously, sends `_child(create)` to the parent, and returns the
    /// id.
    ///
    /// # Errors
    /// [`Error::NoStartState`] if there is no `_start` handler: as POE,
    /// nothing is allocated.
    ///
    /// [`Kernel`]: crate::Kernel
    pub fn create<K: SessionHost + ?Sized>(self, host: &mut K) -> Result<SessionId, Error> {
        // Asked here, where a table still being built answers without a
        // lookup.
        let has_start = self.has_state("_start");
        let mut own = self.own.states;
        let states = match self.shared {
            // Stateless closures only: the table every such session shares.
            None if own.is_empty() && !self.pending.is_empty() => {
                Tables::Shared(self.pending.into_shared())
            }
            None => Tables::Own(own),
            Some(shared) if own.is_empty() && self.pending.is_empty() => Tables::Shared(shared.0),
            Some(shared) => {
                let mut pending = self.pending;
                pending.drain_into(&mut own);
                let mut merged = shared.0.states.clone();
                merged.extend(own);
                Tables::Own(merged)
            }
        };
        let body = Box::new(Body {
            heap: self.heap,
            states,
            last: None,
        });
        lifecycle::create(host.active(), body, has_start, self.args, self.options)
    }
}

impl<H> fmt::Debug for Session<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = (self.own.states.keys().chain(self.pending.names()))
            .map(EventName::as_str)
            .collect();
        names.sort_unstable();
        f.debug_struct("Session")
            .field("states", &names)
            .field("args", &self.args)
            .finish()
    }
}

/// A session's handler table: its own (kept in the body itself, no
/// allocation of its own besides the table's), or one shared with other
/// sessions of its kind.
enum Tables<H> {
    Own(States<H>),
    Shared(Rc<SharedTable<H>>),
}

/// A handler table shared by sessions, with the handlers of the two events
/// every session gets, `_start` and `_stop`, looked up once for all of them
/// (each session looked each up by hashing its name: about 200 of the
/// 2,730 instructions of creating and stopping a session of capture-less
/// closures).
pub(crate) struct SharedTable<H> {
    states: States<H>,
    start: Option<Handler<H>>,
    stop: Option<Handler<H>>,
}

impl<H> SharedTable<H> {
    pub(crate) fn new(states: States<H>) -> Self {
        let start = states.get(&EventName::from_static("_start")).cloned();
        let stop = states.get(&EventName::from_static("_stop")).cloned();
        SharedTable {
            states,
            start,
            stop,
        }
    }

    /// The handlers, by name.
    pub(crate) fn states(&self) -> &States<H> {
        &self.states
    }

    /// The handler of `name` if it is `_start` or `_stop` and the table
    /// has one (otherwise the table is searched as for any event).
    #[inline]
    fn lifecycle_handler(&self, name: &str) -> Option<&Handler<H>> {
        match name.len() {
            6 if name == "_start" => self.start.as_ref(),
            5 if name == "_stop" => self.stop.as_ref(),
            _ => None,
        }
    }
}

impl<H> std::ops::Deref for Tables<H> {
    type Target = States<H>;
    #[inline]
    fn deref(&self) -> &States<H> {
        match self {
            Tables::Own(t) => t,
            Tables::Shared(t) => t.states(),
        }
    }
}

/// A created session's heap and handlers, stored type-erased in the slab.
pub(crate) struct Body<H> {
    heap: H,
    states: Tables<H>,
    /// The handler of the last static event name dispatched here, by the
    /// name's address: a session handling the same event again (a yield
    /// loop, a ping-pong, a timer) skips hashing the name. Handlers never
    /// change once a session is created, so the entry never goes stale.
    last: Option<(&'static str, Handler<H>)>,
}

/// A table of handlers built once and shared by many sessions of the same
/// kind (a component's connection sessions, say): each session then costs
/// its heap, not a copy of every handler. Build it like a session, with
/// [`StateTable`]; cloning it is a reference count.
pub struct SharedStates<H>(Rc<SharedTable<H>>);

impl<H> Clone for SharedStates<H> {
    fn clone(&self) -> Self {
        SharedStates(self.0.clone())
    }
}

impl<H> fmt::Debug for SharedStates<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.0.states.keys().map(EventName::as_str).collect();
        names.sort_unstable();
        f.debug_tuple("SharedStates").field(&names).finish()
    }
}

/// A program's handler as a state: its arguments taken from the kernel's
/// slot, its return made an outcome (shared if it is stateless).
fn wrap<H: 'static, F, R>(handler: F) -> Handler<H>
where
    F: Fn(&mut Ctx<'_, H>, Args) -> R + 'static,
    R: HandlerReturn,
{
    shared_handler(move |ctx, args: &mut Args| handler(ctx, args.take_all()).into_return())
}

/// Builds [`SharedStates`]: POE's states given once for many sessions (as
/// POE's `package_states` share one package's subs).
pub struct StateTable<H> {
    states: States<H>,
}

impl<H: 'static> Default for StateTable<H> {
    fn default() -> Self {
        StateTable {
            states: HashMap::default(),
        }
    }
}

impl<H: 'static> StateTable<H> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a handler given as a closure (as [`Session::inline_state`]).
    pub fn inline_state<F, R>(mut self, name: impl Into<EventName>, handler: F) -> Self
    where
        F: Fn(&mut Ctx<'_, H>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.states.insert(name.into(), wrap(handler));
        self
    }

    /// Adds a handler that is already a [`StateHandler`], as it is: a
    /// call to the state calls `handler` itself. A later handler for the
    /// same name replaces an earlier one.
    pub fn handler_state(mut self, name: impl Into<EventName>, handler: StateHandler<H>) -> Self {
        self.states.insert(name.into(), handler);
        self
    }

    /// The table, ready to share.
    pub fn build(self) -> SharedStates<H> {
        SharedStates(Rc::new(SharedTable::new(self.states)))
    }
}

impl<H> fmt::Debug for StateTable<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateTable")
            .field("states", &self.states.len())
            .finish()
    }
}

/// The kernel's view of a session body, whatever its heap type.
pub(crate) trait AnySession {
    /// Runs the handler for `frame.state` (or `_default`).
    fn dispatch(&mut self, core: &mut Core, frame: &Frame, args: &mut Args) -> Outcome;
    /// [`dispatch`](Self::dispatch) when nobody reads the handler's value:
    /// it is dropped here, where the handler left it.
    fn dispatch_for_effect(&mut self, core: &mut Core, frame: &Frame, args: &mut Args);
    /// Runs `handler` (a type-erased [`Handler<H>`] of this session's heap
    /// type) as if it were the state `frame.state`.
    fn dispatch_direct(
        &mut self,
        core: &mut Core,
        frame: &Frame,
        args: &mut Args,
        handler: &dyn Any,
    ) -> Outcome;
    fn heap_any(&mut self) -> &mut dyn Any;
}

impl<H: 'static> Body<H> {
    /// Runs the handler for `frame.state` (or `_default`), remembering it
    /// in `last` for static names.
    #[inline(always)]
    fn run(&mut self, core: &mut Core, frame: &Frame, args: &mut Args) -> Outcome {
        let Body { heap, states, last } = self;
        let Some(key) = frame.state.as_static() else {
            return dispatch_with(heap, states, core, frame, args, Guard::Catch);
        };
        // The remembered handler, or the table's, remembered now; a name
        // with no handler is looked up once, on its way to `_default`. A
        // shared table has `_start` and `_stop` at hand (each comes once
        // per session: not remembered).
        let handler = match last {
            Some((k, h)) if std::ptr::eq(*k, key) => h,
            _ => {
                if let Tables::Shared(t) = &*states {
                    if let Some(h) = t.lifecycle_handler(frame.state.as_str()) {
                        return invoke(heap, states, core, frame, args, h, Guard::Catch);
                    }
                }
                match states.get(&frame.state) {
                    Some(h) => &last.insert((key, h.clone())).1,
                    None => {
                        return dispatch_unhandled(heap, states, core, frame, args, Guard::Catch)
                    }
                }
            }
        };
        invoke(heap, states, core, frame, args, handler, Guard::Catch)
    }
}

impl<H: 'static> AnySession for Body<H> {
    fn dispatch(&mut self, core: &mut Core, frame: &Frame, args: &mut Args) -> Outcome {
        self.run(core, frame, args)
    }
    fn dispatch_for_effect(&mut self, core: &mut Core, frame: &Frame, args: &mut Args) {
        discard(self.run(core, frame, args));
    }
    fn dispatch_direct(
        &mut self,
        core: &mut Core,
        frame: &Frame,
        args: &mut Args,
        handler: &dyn Any,
    ) -> Outcome {
        let Some(handler) = handler.downcast_ref::<Handler<H>>() else {
            log::error!(
                "'{}' for session {}: its watcher's handler was made for another heap type",
                frame.state,
                frame.session
            );
            return Err(Box::new(Error::InvalidArgument(
                "a watcher's handler was made for another heap type",
            )));
        };
        invoke(
            &mut self.heap,
            &self.states,
            core,
            frame,
            args,
            handler,
            Guard::Catch,
        )
    }
    fn heap_any(&mut self) -> &mut dyn Any {
        &mut self.heap
    }
}

/// Whether a handler's panic is caught here (every dispatch through the
/// kernel) or left to unwind into the handler that called it (a self-call,
/// which runs inside its caller, as in POE).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    Catch,
    Inside,
}

/// Runs one handler of a session whose heap and states are at hand: the
/// common path of queued events, calls, and self-calls.
///
/// An event with no handler goes to `_default` with ARG0 = the original
/// name and ARG1 = a list of the original arguments, and STATE `_default`
/// (POE::Session::_invoke_state); with no `_default` either it is dropped
/// with [`Error::NoHandler`].
#[inline]
pub(crate) fn dispatch_with<H: 'static>(
    heap: &mut H,
    states: &States<H>,
    core: &mut Core,
    frame: &Frame,
    args: &mut Args,
    guard: Guard,
) -> Outcome {
    match states.get(&frame.state) {
        Some(handler) => invoke(heap, states, core, frame, args, handler, guard),
        None => dispatch_unhandled(heap, states, core, frame, args, guard),
    }
}

/// An event this session has no handler for: to `_default`, or dropped
/// with [`Error::NoHandler`] (see [`dispatch_with`]).
#[inline(never)]
fn dispatch_unhandled<H: 'static>(
    heap: &mut H,
    states: &States<H>,
    core: &mut Core,
    frame: &Frame,
    args: &mut Args,
    guard: Guard,
) -> Outcome {
    let Some(h) = states.get("_default") else {
        if core.option_is_set(frame.session, "default") {
            log::warn!(
                "a '{}' event was sent from session {} to session {} but session {} has \
                 neither a handler for it nor one for _default",
                frame.state,
                frame.sender,
                frame.session,
                frame.session
            );
        } else {
            log::debug!(
                "session {} has neither a handler for '{}' nor one for _default",
                frame.session,
                frame.state
            );
        }
        return Err(Box::new(Error::NoHandler {
            session: frame.session,
            event: frame.state.clone(),
        }));
    };
    // The active event stays the one redirected, now no longer STATE.
    let redirected = Frame {
        state: EventName::from_static("_default"),
        active: frame.active_event().into(),
        ..frame.clone()
    };
    let mut args = Args::from(vec![
        Value::Str(frame.state.as_str().to_owned()),
        Value::List(std::mem::take(args).into_vec()),
    ]);
    invoke(heap, states, core, &redirected, &mut args, h, guard)
}

/// Runs one handler with a fresh `Ctx`. Under [`Guard::Catch`] a panic
/// becomes POE's DIE handling; the frame is read back from the `Ctx` then,
/// so the common path copies no names for it.
#[inline(always)]
pub(crate) fn invoke<H: 'static>(
    heap: &mut H,
    states: &States<H>,
    core: &mut Core,
    frame: &Frame,
    args: &mut Args,
    handler: &Handler<H>,
    guard: Guard,
) -> Outcome {
    let mut ctx = Ctx {
        heap,
        states,
        kernel: KernelHandle { core, frame },
    };
    // The arguments stay where the caller put them until the handler's
    // own wrapper takes them: every move on the way (into a closure, into
    // a dynamic call's parameter) was a 64-byte copy, and the first copy of
    // arguments just built in pieces waits for those stores to land.
    let run = |ctx: &mut Ctx<'_, H>, args: &mut Args| {
        ctx.kernel.core.note_dispatch(ctx.kernel.frame);
        handler(ctx, args)
    };
    let result = match guard {
        Guard::Inside => run(&mut ctx, args),
        Guard::Catch => match catch_unwind(AssertUnwindSafe(|| run(&mut ctx, args))) {
            Ok(result) => result,
            Err(payload) => {
                return panicked(ctx.kernel.core, Who::from(frame), payload);
            }
        },
    };
    result.map_err(|source| {
        log_failure(frame, &source);
        Box::new(Error::Handler {
            session: frame.session,
            event: frame.state.clone(),
            source,
        })
    })
}

/// Logs a handler's failure (every dispatch path logs it the same way).
#[cold]
fn log_failure(frame: &Frame, source: &HandlerError) {
    let (session, state) = (frame.session, &frame.state);
    log::error!("handler for '{state}' in session {session} failed: {source}");
}

/// [`invoke`] inside the running session (no `catch_unwind`: a self-call)
/// for a caller that has no use for the handler's value: the outcome is
/// looked at and dropped where the handler wrote it, never moved. A failure
/// is logged as [`invoke`] logs it. (Moving the value out, into `invoke`'s
/// result, read back at once in 16-byte pieces what the handler had just
/// written in 8-byte ones: a store-forwarding stall per record in a wheel's
/// read loop.)
#[inline(always)]
pub(crate) fn invoke_for_effect<H: 'static>(
    heap: &mut H,
    states: &States<H>,
    core: &mut Core,
    frame: &Frame,
    args: &mut Args,
    handler: &Handler<H>,
) {
    let mut ctx = Ctx {
        heap,
        states,
        kernel: KernelHandle { core, frame },
    };
    ctx.kernel.core.note_dispatch(ctx.kernel.frame);
    let outcome = handler(&mut ctx, args);
    match &outcome {
        Ok(value) if !value.owns_memory() => std::mem::forget(outcome),
        Ok(_) => drop(outcome),
        Err(source) => log_failure(frame, source),
    }
}

/// Where sessions can be created from: the [`Kernel`](crate::Kernel) (the
/// new session is top-level) or a handler's [`Ctx`] (it becomes a child of
/// the handler's session). Sealed: implemented by this crate only.
pub trait SessionHost: sealed::Sealed {}

pub(crate) mod sealed {
    use super::super::core::Core;
    use super::super::ctx::Frame;
    use super::super::{Args, Outcome, SessionId};

    /// What the lifecycle code needs from whoever is active.
    pub trait Sealed {
        #[doc(hidden)]
        fn active(&mut self) -> &mut dyn Active;
    }

    /// The innermost active party: the kernel, or the session whose handler
    /// is running (whose heap only it can reach).
    pub trait Active {
        fn active_id(&self) -> SessionId;
        fn core(&mut self) -> &mut Core;
        /// Delivers an event to the active session itself.
        fn dispatch_self(&mut self, frame: &Frame, args: &mut Args) -> Outcome;
    }
}
