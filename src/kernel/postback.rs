//! Postbacks and callbacks (POE's `$session->postback` / `->callback`):
//! values that send an event to a session when invoked, and keep that
//! session alive while they exist.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use super::core::Core;
use super::ctx::{Ctx, KernelHandle};
use super::{Args, Error, EventName, Kernel, SessionId, Value};

/// The extra-reference tag postbacks and callbacks hold, as in POE.
pub(crate) const TAG: &str = "anon_event";

/// Sessions whose postback or callback was dropped; the kernel releases
/// their `anon_event` reference before its next garbage collection.
pub(crate) type Released = Rc<RefCell<Vec<SessionId>>>;

/// Holds one `anon_event` reference; queues its release when dropped.
struct Hold {
    session: SessionId,
    released: Released,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.released.borrow_mut().push(self.session);
    }
}

/// What postbacks and callbacks share: target, event, creation arguments.
#[derive(Clone)]
struct Anon {
    session: SessionId,
    event: EventName,
    args: Args,
    hold: Option<Rc<Hold>>,
}

impl Anon {
    fn new(k: &mut KernelHandle<'_>, event: EventName, args: Args) -> Self {
        let session = k.session();
        let hold = k.core.refcount_increment(session, TAG).ok().map(|_| {
            Rc::new(Hold {
                session,
                released: k.core.released.clone(),
            })
        });
        Anon {
            session,
            event,
            args,
            hold,
        }
    }

    /// POE's argument layout: ARG0 = creation args, ARG1 = invocation args.
    fn args(&self, invocation: Args) -> Args {
        let mut a = Args::new();
        a.push(Value::List(self.args.clone().into_vec()));
        a.push(Value::List(invocation.into_vec()));
        a
    }
}

impl fmt::Debug for Anon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("")
            .field("session", &self.session)
            .field("event", &self.event)
            .field("holds", &self.hold.is_some())
            .finish()
    }
}

/// A value that posts an event to the session that made it (POE's
/// `$session->postback(event => @args)`). The handler gets ARG0 = the
/// creation arguments and ARG1 = the invocation arguments, both as lists.
/// While any clone exists the session stays alive and the kernel is not
/// idle; [`weaken`](Self::weaken) drops that hold early.
#[derive(Clone, Debug)]
pub struct Postback(Anon);

/// A value that calls an event of the session that made it and returns the
/// handler's value (POE's `$session->callback`); arguments as [`Postback`].
#[derive(Clone, Debug)]
pub struct Callback(Anon);

impl KernelHandle<'_> {
    /// Makes a [`Postback`] to this session (POE's `$_[SESSION]->postback`).
    pub fn postback(&mut self, event: impl Into<EventName>, args: Args) -> Postback {
        Postback(Anon::new(self, event.into(), args))
    }

    /// Makes a [`Callback`] to this session (POE's `$_[SESSION]->callback`).
    pub fn callback(&mut self, event: impl Into<EventName>, args: Args) -> Callback {
        Callback(Anon::new(self, event.into(), args))
    }
}

impl Postback {
    /// Posts the event, SENDER = the invoking session.
    ///
    /// # Errors
    /// [`Error::NoSuchSession`] if the session has stopped.
    pub fn post(&self, k: &mut KernelHandle<'_>, args: Args) -> Result<(), Error> {
        k.post(self.0.session, self.0.event.clone(), self.0.args(args))
    }

    /// Posts the event from outside any session (SENDER = kernel).
    ///
    /// # Errors
    /// As [`post`](Self::post).
    pub fn post_from_kernel(&self, kernel: &mut Kernel, args: Args) -> Result<(), Error> {
        self.post(&mut kernel.handle(), args)
    }

    /// The session the event goes to.
    pub fn session(&self) -> SessionId {
        self.0.session
    }

    /// Stops keeping the session alive (POE's `$postback->weaken`).
    pub fn weaken(&mut self) {
        self.0.hold = None;
    }
}

impl Callback {
    /// Calls the event synchronously and returns the handler's value; works
    /// for the invoking session's own callbacks too.
    ///
    /// # Errors
    /// As [`Ctx::call`].
    pub fn call<H: 'static>(&self, ctx: &mut Ctx<'_, H>, args: Args) -> Result<Value, Error> {
        ctx.call(self.0.session, self.0.event.clone(), self.0.args(args))
    }

    /// Calls the event from outside any session (SENDER = kernel).
    ///
    /// # Errors
    /// As [`Ctx::call`].
    pub fn call_from_kernel(&self, kernel: &mut Kernel, args: Args) -> Result<Value, Error> {
        kernel.call(self.0.session, self.0.event.clone(), self.0.args(args))
    }

    /// The session the event goes to.
    pub fn session(&self) -> SessionId {
        self.0.session
    }

    /// Stops keeping the session alive.
    pub fn weaken(&mut self) {
        self.0.hold = None;
    }
}

impl Core {
    /// Releases the references of dropped postbacks and callbacks.
    #[inline]
    pub(crate) fn drain_released(&mut self) {
        self.apply_io_requests();
        if self.released.borrow().is_empty() {
            return;
        }
        self.release_dropped();
    }

    /// Whether [`drain_released`](Self::drain_released) has anything to do.
    #[inline]
    pub(crate) fn has_released(&self) -> bool {
        !self.released.borrow().is_empty() || self.has_io_requests()
    }

    #[cold]
    fn release_dropped(&mut self) {
        let released = std::mem::take(&mut *self.released.borrow_mut());
        for sid in released {
            // A session that has stopped already took its references along.
            let _ = self.refcount_decrement(sid, TAG);
        }
    }
}
