//! The reactor: POE::Kernel.
//!
//! One [`Kernel`] per thread, owning everything: the session slab, the event
//! queue (posts and timers in POE's order), aliases, signals and the mio
//! poll. Handlers reach it through their [`Ctx`].

mod aliases;
mod args;
mod clock;
mod core;
mod ctx;
mod dispatch;
mod error;
mod event_name;
mod exceptions;
mod fxhash;
mod lifecycle;
mod options;
mod os_signals;
mod postback;
mod queue;
mod refcount;
mod select;
mod session;
mod session_id;
mod signals;
mod stateless;
mod stream;
mod target;
mod timer_heap;
mod timers;
mod value;

use std::io;
use std::time::Duration;

pub use self::args::{
    ArgError, Args, FromArg, ARG0, ARG1, ARG2, ARG3, ARG4, ARG5, ARG6, ARG7, ARG8, ARG9,
};
pub use self::ctx::{Ctx, KernelHandle, SelfCall};
pub use self::dispatch::DispatchRecord;
pub use self::error::Error;
pub(crate) use self::error::{unboxed, Outcome};
pub use self::event_name::EventName;
pub use self::postback::{Callback, Postback};
pub use self::queue::AlarmId;
pub use self::select::{HandleId, Registration};
pub use self::session::{Session, SessionHost, SharedStates, StateHandler, StateTable};
pub use self::session_id::SessionId;
pub use self::stream::{ByteStream, SharedStream};
pub use self::target::Target;
pub use self::timers::RemovedAlarm;
pub(crate) use self::value::discard;
pub use self::value::{HandlerError, HandlerReturn, Value};

use self::clock::Clock;
use self::core::Core;
use self::ctx::Frame;
use self::dispatch::dispatch_queued;
use self::lifecycle::{gc_sweep, gc_sweep_stops_none, stop_all};
use self::os_signals::{OsSignals, SIGNAL_TOKEN};
use self::queue::Due;
use self::select::{Handles, Readiness};
use self::session::sealed::{Active, Sealed};

/// POE's kernel: the event loop that owns every session.
///
/// Build one with [`Kernel::new`], create sessions with
/// [`Session::create`], then [`run`](Kernel::run) until no session is left.
/// There is no global kernel: each thread may run its own.
///
/// ```
/// use rpoe::{args, Kernel, Session};
///
/// let mut kernel = Kernel::new().unwrap();
/// Session::new(())
///     .inline_state("_start", |ctx, _| { ctx.alias_set("echo").unwrap(); })
///     .inline_state("ping", |ctx, args| {
///         let n: i64 = args.get(0)?;
///         if n == 3 { ctx.alias_remove("echo").unwrap(); }
///         Ok::<_, rpoe::ArgError>(n)
///     })
///     .create(&mut kernel)
///     .unwrap();
/// assert_eq!(kernel.call("echo", "ping", args![2]).unwrap(), rpoe::Value::Int(2));
/// kernel.post("echo", "ping", args![3]).unwrap();
/// kernel.run().unwrap();           // the session stops once nothing holds it
/// assert_eq!(kernel.session_count(), 0);
/// ```
pub struct Kernel {
    core: Core,
    /// SESSION, SENDER and STATE of code outside any handler.
    kernel_frame: Frame,
    poll: mio::Poll,
    events: mio::Events,
}

impl Kernel {
    /// A kernel on the system's monotonic clock.
    ///
    /// # Errors
    /// The OS error if the poller (epoll, kqueue) cannot be created.
    pub fn new() -> io::Result<Kernel> {
        Self::with_clock(Clock::system())
    }

    fn with_clock(clock: Clock) -> io::Result<Kernel> {
        os_signals::ignore_sigpipe();
        let poll = mio::Poll::new()?;
        let os = OsSignals::new(poll.registry().try_clone()?);
        let handles = Handles::new(poll.registry().try_clone()?);
        Ok(Kernel {
            core: Core::new(clock, os, handles),
            kernel_frame: Frame::kernel(),
            poll,
            events: mio::Events::with_capacity(256),
        })
    }

    /// A kernel on a virtual clock, for deterministic tests: time moves only
    /// when the kernel is told to ([`advance`](Self::advance)), or when
    /// [`run`](Self::run) has nothing to do but wait for a timer and no real
    /// I/O is watched: then it jumps straight to that timer. A program full
    /// of hour-long delays runs in microseconds and prints the same trace
    /// every time. Wall-clock time ([`KernelHandle::time`]) starts at
    /// `wall_start` seconds since the Unix epoch.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rpoe::{args, Kernel, Session};
    ///
    /// let mut kernel = Kernel::new_virtual(1_000_000.0).unwrap();
    /// Session::new(0)
    ///     .inline_state("_start", |ctx, _| ctx.delay("tick", 3600.0, args![]))
    ///     .inline_state("tick", |ctx, _| *ctx.heap += 1)
    ///     .create(&mut kernel)
    ///     .unwrap();
    /// kernel.run_until_idle().unwrap();
    /// assert_eq!(kernel.next_deadline(), Some(Duration::from_secs(3600)));
    /// kernel.advance(Duration::from_secs(3599)).unwrap();
    /// assert_eq!(kernel.session_count(), 1);   // not yet
    /// kernel.run().unwrap();                   // jumps the last second
    /// assert_eq!(kernel.now(), Duration::from_secs(3600));
    /// ```
    ///
    /// # Errors
    /// The OS error if the poller cannot be created.
    pub fn new_virtual(wall_start: f64) -> io::Result<Kernel> {
        Self::with_clock(Clock::manual(wall_start))
    }

    /// Kernel time: how long since the kernel was built (real or virtual).
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.core.clock.now().max(0) as u64)
    }

    /// Kernel time of the earliest timer, if any is queued (on either clock).
    pub fn next_deadline(&self) -> Option<Duration> {
        self.core
            .queue
            .next_timer()
            .map(|t| Duration::from_nanos(t.max(0) as u64))
    }

    /// Dispatches everything due now, batch after batch, without waiting
    /// and without declaring the kernel idle; returns when nothing is due.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn run_until_idle(&mut self) -> Result<(), Error> {
        loop {
            self.handle_stop_request();
            let now = self.core.clock.now();
            self.core.now = now;
            let due = self.core.queue.head().is_some_and(|(t, _)| t <= now);
            if !due || self.core.session_count() == 0 {
                break;
            }
            self.dispatch_batch();
            self.check_fatal()?;
        }
        Ok(())
    }

    /// Moves a virtual clock forward by `by`, firing every deadline on the
    /// way in order (timers set by handlers during the advance included),
    /// with everything they queue dispatched at its own time.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    ///
    /// # Panics
    /// On a kernel built with [`Kernel::new`]: the system clock cannot be
    /// moved.
    pub fn advance(&mut self, by: Duration) -> Result<(), Error> {
        assert!(
            self.core.clock.is_manual(),
            "Kernel::advance needs a kernel built with Kernel::new_virtual"
        );
        let target = self
            .core
            .clock
            .now()
            .saturating_add(by.as_nanos().min(i64::MAX as u128) as i64);
        loop {
            self.run_until_idle()?;
            match self.core.queue.next_timer_settled() {
                Some(due) if due <= target => self.core.clock.set(due),
                _ => break,
            }
        }
        self.core.clock.set(target);
        self.run_until_idle()
    }

    /// The kernel's methods as seen from outside any handler: SESSION and
    /// SENDER are the kernel. For example `kernel.handle().alias_list(id)`.
    pub fn handle(&mut self) -> KernelHandle<'_> {
        KernelHandle {
            core: &mut self.core,
            frame: &self.kernel_frame,
        }
    }

    /// Queues an event from outside any session (SENDER = kernel).
    ///
    /// # Errors
    /// [`Error::NoSuchSession`] if `target` does not resolve.
    pub fn post<'t>(
        &mut self,
        target: impl Into<Target<'t>>,
        event: impl Into<EventName>,
        args: Args,
    ) -> Result<(), Error> {
        self.handle().post(target, event, args)
    }

    /// Calls a session's handler synchronously from outside any session.
    ///
    /// # Errors
    /// As [`Ctx::call`].
    pub fn call<'t>(
        &mut self,
        target: impl Into<Target<'t>>,
        event: impl Into<EventName>,
        args: Args,
    ) -> Result<Value, Error> {
        let result = self.handle().call(target, event, args);
        self.handle_stop_request();
        self.check_fatal()?;
        result
    }

    /// Sends a signal from outside any session; [`SessionId::KERNEL`]
    /// reaches every session.
    ///
    /// # Errors
    /// [`Error::NoSuchSession`] if `target` does not resolve.
    pub fn signal<'t>(
        &mut self,
        target: impl Into<Target<'t>>,
        name: &str,
        args: Args,
    ) -> Result<(), Error> {
        self.handle().signal(target, name, args)
    }

    /// Resolves an alias or session number (POE's `alias_resolve`).
    pub fn alias_resolve<'t>(&self, target: impl Into<Target<'t>>) -> Option<SessionId> {
        self.core.resolve(target.into()).ok()
    }

    /// Finds a live session by its number (POE's `ID_id_to_session`).
    pub fn id_to_session(&self, id: u64) -> Option<SessionId> {
        self.core.id_to_session(id)
    }

    /// How many sessions are alive (the kernel not counted).
    pub fn session_count(&self) -> usize {
        self.core.session_count()
    }

    /// Borrows a session's heap from outside the loop, if `session` is alive
    /// and its heap has type `H` (POE's `$session->get_heap`).
    pub fn with_heap<H: 'static, R>(
        &mut self,
        session: SessionId,
        f: impl FnOnce(&mut H) -> R,
    ) -> Option<R> {
        let body = self.core.entry_mut(session)?.body.as_mut()?;
        body.heap_any().downcast_mut::<H>().map(f)
    }

    /// Installs a function called before every handler runs, with the
    /// session, event and sender: the exact dispatch order, for tests.
    /// Dispatches are also logged at `trace` level through `log`.
    pub fn set_dispatch_hook(&mut self, hook: impl FnMut(&DispatchRecord<'_>) + 'static) {
        self.core.hook = Some(Box::new(hook));
    }

    /// Removes the dispatch hook.
    pub fn clear_dispatch_hook(&mut self) {
        self.core.hook = None;
    }

    /// POE's `stop()`: stops every session now, deepest and newest first,
    /// each with `_stop` and `_child(lose)`; `run()` then returns.
    pub fn stop(&mut self) {
        stop_all(&mut self.core, SessionId::KERNEL);
    }

    /// Runs until no session is left (POE's `run`). A program whose
    /// sessions have nothing left to do ends through IDLE: unless a watcher
    /// handles it, every session is stopped. The kernel can be used again
    /// afterwards; session ids keep counting.
    ///
    /// # Errors
    /// [`Error::Panicked`] when a handler panicked and no DIE watcher
    /// handled it, or the panic was fatal (in `_stop` or in a DIE watcher):
    /// every session has been stopped by then. With
    /// [`catch_panics(false)`](Self::catch_panics) the panic itself
    /// propagates instead, after the sessions are stopped.
    pub fn run(&mut self) -> Result<(), Error> {
        while self.run_one_timeslice()? {
            // Batches of posts alone, back to back: with no I/O or OS
            // signal to look at, no stop requested and sessions left, the
            // next timeslice would go straight to its batch (its other
            // steps are the ones tested here), so it goes there now.
            // (What handlers released was drained at the end of the
            // batch before: nothing runs in between.)
            while next_batch_is_posts_only(&self.core) {
                self.dispatch_batches_back_to_back();
                self.check_fatal()?;
            }
        }
        Ok(())
    }

    /// Whether panics in handlers are caught and turned into DIE signals
    /// (POE's `CATCH_EXCEPTIONS`, on by default). Off, a panic stops every
    /// session and then propagates out of [`run`](Self::run).
    pub fn catch_panics(&mut self, on: bool) {
        self.core.catch_panics = on;
    }

    /// Ends the run if a panic was fatal: stops every session, then returns
    /// the error (or resumes the panic when catching is off).
    #[inline]
    fn check_fatal(&mut self) -> Result<(), Error> {
        if self.core.fatal.is_none() {
            return Ok(());
        }
        self.end_fatal()
    }

    #[cold]
    fn end_fatal(&mut self) -> Result<(), Error> {
        stop_all(&mut self.core, SessionId::KERNEL);
        self.core.queue.clear();
        let Some(fatal) = self.core.fatal.take() else {
            return Ok(());
        };
        if let Some(payload) = fatal.payload {
            std::panic::resume_unwind(payload);
        }
        Err(Error::Panicked {
            session: fatal.session,
            event: fatal.event,
            message: fatal.message,
        })
    }

    /// Runs timeslices while `condition` holds and sessions remain (POE's
    /// `run_while(\$flag)`).
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn run_while(
        &mut self,
        mut condition: impl FnMut(&mut Kernel) -> bool,
    ) -> Result<(), Error> {
        while condition(self) && self.run_one_timeslice()? {}
        Ok(())
    }

    /// One turn of the loop (POE's `run_one_timeslice`): queue IDLE if
    /// there is nothing to do, wait for the next due event, dispatch every
    /// event due when the batch began, then collect garbage. Returns
    /// `Ok(false)` (doing nothing) when no session is left.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn run_one_timeslice(&mut self) -> Result<bool, Error> {
        self.handle_stop_request();
        self.core.drain_released();
        if self.core.session_count() == 0 {
            self.core.queue.clear();
            return Ok(false);
        }
        if self.core.is_idle() {
            signals::enqueue(
                &mut self.core,
                SessionId::KERNEL,
                SessionId::KERNEL,
                "IDLE",
                Args::new(),
                None,
            );
        }
        self.wait_for_work();
        self.dispatch_batch();
        self.check_fatal()?;
        Ok(true)
    }

    /// Dispatches everything due now and queued before now (later posts
    /// wait for the next batch, as in POE), then collects garbage.
    #[inline]
    fn dispatch_batch(&mut self) {
        self.dispatch_batch_or_more(false);
    }

    /// Batches of posts back to back, for [`run`](Self::run): where one
    /// batch ends and the next would begin with nothing in between (see
    /// [`batch_boundary_is_empty`]), the next batch's events follow in the
    /// same loop. The events and their order are a timeslice's; only the
    /// loop's own work between two batches is saved, which in a ping-pong
    /// or a yield loop (one event per batch) is paid per event.
    fn dispatch_batches_back_to_back(&mut self) {
        self.dispatch_batch_or_more(true);
    }

    #[inline(always)]
    fn dispatch_batch_or_more(&mut self, back_to_back: bool) {
        let core = &mut self.core;
        if core.queue.has_timers() {
            core.now = core.clock.now();
        }
        let mut limit = (core.now, core.queue.seq_mark());
        loop {
            let due = match core.queue.due_before(limit) {
                Some(due) => due,
                None if back_to_back && batch_boundary_is_empty(core) => {
                    // The next batch, as a timeslice would begin it (no
                    // timers: the clock is not read). Everything queued is
                    // due then: with no holds, the first post (there is
                    // one), without a second look at its key.
                    limit = (core.now, core.queue.seq_mark());
                    if !core.queue.has_holds() {
                        Due::Post
                    } else {
                        match core.queue.due_before(limit) {
                            Some(due) => due,
                            None => break,
                        }
                    }
                }
                None => break,
            };
            // Popped where it is dispatched: an event handed back through
            // one more `Option` was copied (150 bytes) twice more.
            match due {
                Due::Post => {
                    if let Some((_, ev)) = core.queue.pop_post() {
                        dispatch_queued(core, ev);
                    }
                }
                Due::Timer => {
                    if let Some(ev) = core.queue.pop_timer() {
                        dispatch_queued(core, ev);
                    }
                }
                Due::Hold => {
                    if let Some(sid) = core.queue.pop_hold() {
                        core.release_hold(sid);
                    }
                }
            }
            if let Some(by) = core.stop_requested.take() {
                stop_all(core, by);
            }
            if core.fatal.is_some() {
                return;
            }
        }
        core.drain_released();
        if gc_sweep(core) {
            // What the stopped sessions released, before anything else
            // runs (the next batch may follow at once: see `run`).
            core.drain_released();
        }
    }

    fn handle_stop_request(&mut self) {
        if let Some(by) = self.core.stop_requested.take() {
            stop_all(&mut self.core, by);
        }
    }

    /// Sleeps in the poller until the head of the queue is due.
    fn wait_for_work(&mut self) {
        let core = &mut self.core;
        // Real I/O forbids jumping virtual time; OS signals only need a look.
        let io_watched = core.handle_total > 0;
        let watching = io_watched || core.os.active();
        if (core.queue.has_posts() || core.handles.has_woken()) && !watching {
            return; // a post is due now and there is no I/O to look at
        }
        let timeout = match core.queue.head() {
            _ if core.handles.has_woken() => Some(Duration::ZERO),
            None if core.handle_total == 0 && !core.os.active() => {
                log::warn!(
                    "kernel waiting with an empty queue: {} extra references and {} handles keep it alive",
                    core.extref_total,
                    core.handle_total
                );
                None
            }
            None => None,
            Some((due, _)) if due <= core.now => Some(Duration::ZERO),
            Some((due, _)) if core.clock.is_manual() && !io_watched => {
                // Virtual time with no real I/O to wait for: jump.
                core.clock.set(due);
                core.now = core.clock.now();
                Some(Duration::ZERO)
            }
            Some((due, _)) => {
                core.now = core.clock.now();
                Some(Duration::from_nanos(
                    due.saturating_sub(core.now).max(0) as u64
                ))
            }
        };
        if timeout == Some(Duration::ZERO) && !watching {
            return;
        }
        loop {
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error!("poll failed: {e}");
                    break;
                }
            }
        }
        self.core.os_deliver();
        let mut ready = std::mem::take(&mut self.core.handles.spare_ready);
        ready.extend(
            self.events
                .iter()
                .filter(|e| e.token() != SIGNAL_TOKEN)
                .map(|e| Readiness {
                    token: e.token(),
                    read: e.is_readable() || e.is_read_closed() || e.is_error(),
                    write: e.is_writable() || e.is_write_closed() || e.is_error(),
                    input_closed: e.is_read_closed() || e.is_error(),
                }),
        );
        if !ready.is_empty() || self.core.handles.has_woken() {
            self.core.io_dispatch(&mut ready);
        }
        ready.clear();
        self.core.handles.spare_ready = ready;
    }
}

/// Whether the next timeslice would only dispatch a batch: posts are
/// queued (so it is not idle) and it would go straight to them (see
/// [`nothing_but_posts_to_do`]).
#[inline]
fn next_batch_is_posts_only(core: &Core) -> bool {
    core.queue.has_posts() && !core.is_idle() && nothing_but_posts_to_do(core)
}

/// Whether a timeslice would do nothing before its batch: nothing is
/// watched (so it would not poll), no stop is requested, and sessions are
/// left.
#[inline(always)]
fn nothing_but_posts_to_do(core: &Core) -> bool {
    core.handle_total == 0
        && core.stop_requested.is_none()
        && !core.os.active()
        && !core.handles.has_woken()
        && core.session_count() > 0
}

/// Whether the end of one batch and the start of the next would do
/// nothing but begin it: nothing released to drain, a GC sweep that stops
/// no session (its one held mark, if any, is cleared here, as the sweep
/// would), no timers queued (a batch with timers reads the clock first, and
/// a timer come due may go before posts made since), and a next timeslice
/// that would go straight to its batch (with no timers, a post or a live
/// hold queued means that the kernel is not idle and that something is
/// due).
#[inline(always)]
fn batch_boundary_is_empty(core: &mut Core) -> bool {
    !core.queue.has_timers()
        && core.queue.has_live_posts()
        && nothing_but_posts_to_do(core)
        && !core.has_released()
        && gc_sweep_stops_none(core)
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("sessions", &self.core.session_count())
            .field("queued", &self.core.queue.len())
            .finish()
    }
}

impl Sealed for Kernel {
    fn active(&mut self) -> &mut dyn Active {
        self
    }
}
impl SessionHost for Kernel {}

impl Active for Kernel {
    fn active_id(&self) -> SessionId {
        SessionId::KERNEL
    }
    fn core(&mut self) -> &mut Core {
        &mut self.core
    }
    fn dispatch_self(&mut self, _frame: &Frame, _args: &mut Args) -> Outcome {
        Ok(Value::Undef)
    }
}
