//! Dispatch: delivering one event to one session's handler, and the hook
//! that lets tests record every dispatch.

use std::any::Any;
use std::rc::Rc;

use super::core::Core;
use super::ctx::{ActiveEvent, Frame};
use super::queue::{Event, Kind};
use super::session::AnySession;
use super::signals;
use super::{discard, Args, Error, EventName, Outcome, SessionId, Value};

/// One handler invocation, as shown to a [dispatch hook](crate::Kernel::set_dispatch_hook).
#[derive(Debug, Clone, Copy)]
pub struct DispatchRecord<'a> {
    /// The session whose handler runs (SESSION).
    pub session: SessionId,
    /// The event handled (STATE; `_default` when redirected).
    pub event: &'a str,
    /// Who sent it (SENDER).
    pub sender: SessionId,
}

/// A function called before every handler runs.
pub(crate) type DispatchHook = Box<dyn FnMut(&DispatchRecord<'_>)>;

impl Core {
    /// Logs a dispatch at trace level and tells the hook, if any; the
    /// common case (none of them) costs three tests, inline.
    #[inline]
    pub(crate) fn note_dispatch(&mut self, frame: &Frame) {
        if self.traced_sessions > 0
            || self.hook.is_some()
            || log::max_level() >= log::LevelFilter::Trace
        {
            self.note_dispatch_now(frame);
        }
    }

    #[cold]
    fn note_dispatch_now(&mut self, frame: &Frame) {
        if self.traced_sessions > 0 && self.option_is_set(frame.session, "trace") {
            log::info!(
                "{} -> {} (from {})",
                frame.session,
                frame.state,
                frame.sender
            );
        }
        log::trace!(
            "dispatch: session {} <- '{}' (from {})",
            frame.session,
            frame.state,
            frame.sender
        );
        if let Some(hook) = self.hook.as_mut() {
            hook(&DispatchRecord {
                session: frame.session,
                event: frame.state.as_str(),
                sender: frame.sender,
            });
        }
    }
}

/// Synchronously runs a handler of session `sid`, which must not be running
/// already: its body is taken out of the slab for the call (its slot stays
/// reserved), so the handler gets `&mut` to its heap while the kernel's
/// tables stay reachable.
#[inline]
pub(crate) fn deliver(core: &mut Core, sid: SessionId, frame: &Frame, args: &mut Args) -> Outcome {
    deliver_with(core, sid, frame, args, None)
}

/// [`deliver`] with a handler given by the caller (a watcher's), not looked
/// up by name.
pub(crate) fn deliver_direct(
    core: &mut Core,
    sid: SessionId,
    frame: &Frame,
    args: &mut Args,
    handler: &Rc<dyn Any>,
) -> Outcome {
    deliver_with(core, sid, frame, args, Some(&**handler))
}

#[inline]
fn deliver_with(
    core: &mut Core,
    sid: SessionId,
    frame: &Frame,
    args: &mut Args,
    handler: Option<&dyn Any>,
) -> Outcome {
    let mut body = take_body(core, sid, frame)?;
    let result = match handler {
        None => body.dispatch(core, frame, args),
        Some(handler) => body.dispatch_direct(core, frame, args, handler),
    };
    put_back(core, sid, body);
    result
}

/// Takes session `sid`'s body out of the slab for a dispatch.
#[inline(always)]
fn take_body(
    core: &mut Core,
    sid: SessionId,
    frame: &Frame,
) -> Result<Box<dyn AnySession>, Box<Error>> {
    let entry = core
        .entry_mut(sid)
        .ok_or_else(|| Error::NoSuchSession(sid.to_string()))?;
    match entry.body.take() {
        Some(body) => Ok(body),
        None => Err(reentrant(sid, frame)),
    }
}

/// The error for a dispatch to a session whose handler is already running.
#[cold]
fn reentrant(sid: SessionId, frame: &Frame) -> Box<Error> {
    log::debug!(
        "'{}' for session {sid} not delivered: its handler is already running",
        frame.state
    );
    Box::new(Error::Reentrant {
        session: sid,
        event: frame.state.clone(),
    })
}

/// Puts a body taken by [`take_body`] back (unless the session stopped).
#[inline(always)]
fn put_back(core: &mut Core, sid: SessionId, body: Box<dyn AnySession>) {
    if let Some(entry) = core.entry_mut(sid) {
        entry.body = Some(body);
    }
}

/// Dispatches one event taken off the queue.
#[inline]
pub(crate) fn dispatch_queued(core: &mut Core, mut ev: Event) {
    match ev.kind {
        Kind::Signal => {
            core.release(&ev);
            signals::dispatch(core, ev)
        }
        Kind::StateTimer(_) => {
            core.release(&ev);
            let Event {
                dest,
                source,
                name,
                mut args,
                caller_state,
                ..
            } = ev;
            let frame = queued_frame(dest, source, name, caller_state);
            if let Value::Shared(handler) = args.take(0) {
                let mut rest = Args::from(args.into_vec().split_off(1));
                discard(deliver_direct(core, dest, &frame, &mut rest, &handler));
            }
        }
        Kind::Post | Kind::Timer(_) => {
            if ev.dest.is_kernel() {
                // POE: a yield outside any session targets the kernel and is ignored.
                core.release(&ev);
                return;
            }
            let (body, mark_at) = core.release_for_dispatch(&ev);
            // Taken apart here: a returned tuple of frame and arguments
            // cost two more 150-byte copies. The arguments stay where the
            // event is (moved out, they were copied once more).
            let Event {
                dest,
                source,
                name,
                ref mut args,
                caller_state,
                ..
            } = ev;
            let frame = queued_frame(dest, source, name, caller_state);
            // Nobody reads a queued event's value: the session's dispatch
            // drops it where the handler left it. NoHandler is logged where
            // it happens; handler errors too.
            let body = match body {
                Some(mut body) => {
                    body.dispatch_for_effect(core, &frame, args);
                    Some(body)
                }
                None => {
                    if core.exists(dest) {
                        drop(reentrant(dest, &frame));
                    }
                    None
                }
            };
            core.end_dispatch(dest, body, mark_at);
            frame.drop_names();
        }
    }
}

/// The frame of a queued event, from its parts.
#[inline]
fn queued_frame(
    dest: SessionId,
    source: SessionId,
    name: EventName,
    caller_state: Option<EventName>,
) -> Frame {
    Frame {
        session: dest,
        sender: source,
        state: name,
        caller_state,
        active: ActiveEvent::State,
    }
}
