//! Panics in handlers: POE's exception model (SPEC §3.8).
//!
//! By default every dispatch through the kernel (not a self-call, which
//! runs inside its caller, as in POE) is wrapped in `catch_unwind`. A panic
//! becomes a `DIE` signal to the session whose handler panicked, with ARG1 a
//! map of `source_session`, `dest_session`, `event`, `from_state` and
//! `error_str`; `DIE` touches the session, its descendants and its
//! ancestors. If no watcher calls `sig_handled`, those sessions are stopped
//! and `run()` returns [`Error::Panicked`]. A panic in `_stop`, in a DIE
//! watcher, or with catching turned off
//! ([`Kernel::catch_panics`](crate::Kernel::catch_panics)) is fatal at once:
//! every session is stopped and `run()` returns the error (or, with
//! catching off, resumes the panic). The kernel's tables are never left
//! half-updated: the panicking session's heap goes back into its slot
//! before anything else happens.

use std::any::Any;
use std::collections::BTreeMap;

use super::core::Core;
use super::ctx::Frame;
use super::signals;
use super::{Args, Error, EventName, Outcome, SessionId, Value};

/// A fatal panic waiting to end `run()`.
pub(crate) struct Fatal {
    pub message: String,
    pub session: SessionId,
    pub event: String,
    /// The panic itself, to resume when catching is off.
    pub payload: Option<Box<dyn Any + Send>>,
}

impl std::fmt::Debug for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fatal")
            .field("message", &self.message)
            .finish()
    }
}

/// The message of a panic payload.
fn message_of(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a handler panicked with a non-string payload".to_owned()
    }
}

/// Which dispatch a panic happened in.
pub(crate) struct Who {
    pub session: SessionId,
    pub sender: SessionId,
    pub state: EventName,
    pub caller_state: Option<EventName>,
}

impl From<&Frame> for Who {
    /// Who a dispatch frame runs for.
    fn from(frame: &Frame) -> Self {
        Who {
            session: frame.session,
            sender: frame.sender,
            state: frame.state.clone(),
            caller_state: frame.caller_state.clone(),
        }
    }
}

/// Turns a caught panic into POE's DIE handling (or a fatal error).
#[cold]
pub(crate) fn panicked(core: &mut Core, frame: Who, payload: Box<dyn Any + Send>) -> Outcome {
    // Still set while the DIE watcher that panicked runs.
    let die_error = core.signals.dispatching_die().map(str::to_owned);
    let message = message_of(payload.as_ref());
    let (session, event) = (frame.session, frame.state.to_string());
    log::error!("handler for '{event}' in session {session} panicked: {message}");
    let fatal = !core.catch_panics
        || frame.state.as_str() == "_stop"
        || die_error.is_some()
        || session.is_kernel();
    if fatal {
        let previous = core.fatal.take().map(|f| f.message).or(die_error);
        let message = match previous {
            Some(previous) => format!(
                "{previous}\nAdditional error thrown in handler for previous error:\n{message}"
            ),
            None => message.clone(),
        };
        core.fatal = Some(Fatal {
            message: message.clone(),
            session,
            event: event.clone(),
            payload: (!core.catch_panics).then_some(payload),
        });
    } else {
        let mut info = BTreeMap::new();
        info.insert("source_session".to_owned(), Value::Session(frame.sender));
        info.insert("dest_session".to_owned(), Value::Session(session));
        info.insert("event".to_owned(), Value::Str(event.clone()));
        let from = frame.caller_state.as_ref().map(|s| s.to_string());
        info.insert("from_state".to_owned(), Value::from(from));
        info.insert("error_str".to_owned(), Value::Str(message.clone()));
        let mut args = Args::new();
        args.push(Value::Map(info));
        signals::enqueue(
            core,
            session,
            SessionId::KERNEL,
            "DIE",
            args,
            frame.caller_state.clone(),
        );
    }
    Err(Box::new(Error::Panicked {
        session,
        event,
        message,
    }))
}

/// After an unhandled DIE: the error that ends `run()`.
pub(crate) fn unhandled_die(core: &mut Core, target: SessionId, args: &Args) {
    let info = args.value(0).and_then(|v| match v {
        Value::Map(m) => Some(m),
        _ => None,
    });
    let get = |k: &str| {
        info.and_then(|m| m.get(k))
            .map(Value::to_string)
            .unwrap_or_default()
    };
    if core.fatal.is_none() {
        core.fatal = Some(Fatal {
            message: get("error_str"),
            session: target,
            event: get("event"),
            payload: None,
        });
    }
}
