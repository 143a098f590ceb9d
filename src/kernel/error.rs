//! `Error`: what kernel calls return where POE returns `undef` and sets `$!`.

use std::fmt;

use super::{ArgError, EventName, HandlerError, SessionId};

/// A failed kernel call. Each variant says which POE `$!` value it stands
/// for ([`Error::errno`]), so ports of code that tests `$!` stay readable.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The destination does not resolve to a live session (POE: `ESRCH`).
    NoSuchSession(String),
    /// The session has no handler for the event and no `_default`
    /// (POE: `call` returns `undef` with `$!` = `ENOSYS`).
    NoHandler {
        /// The session.
        session: SessionId,
        /// The event it could not handle.
        event: EventName,
    },
    /// `call` would re-enter a session whose handler is already running
    /// further up the stack (A calls B calls A). Rust cannot hand out its
    /// heap twice; POE can. A call to the *current* session works through
    /// [`Ctx::call`](crate::Ctx::call).
    Reentrant {
        /// The session already running.
        session: SessionId,
        /// The event that could not be delivered.
        event: EventName,
    },
    /// The handler ran and returned an error (`?` inside a handler).
    Handler {
        /// The session whose handler failed.
        session: SessionId,
        /// The event it was handling.
        event: EventName,
        /// What it returned.
        source: HandlerError,
    },
    /// `alias_set` of an alias another session holds (POE: `EEXIST`).
    AliasInUse {
        /// The alias.
        alias: String,
        /// Who holds it.
        owner: SessionId,
    },
    /// `alias_remove` of an unknown alias (POE: `ESRCH`).
    NoSuchAlias(String),
    /// Not allowed for this session: an alias or alarm owned by another
    /// session, `detach_child` of a session that is not a child, or
    /// `detach_myself` of a top-level session (POE: `EPERM`).
    NotPermitted(&'static str),
    /// `create` of a session without a `_start` state (POE: `undef`, and it
    /// carps "discarding session - no '_start' state").
    NoStartState,
    /// An unknown alarm id (POE: `ESRCH`).
    NoSuchAlarm,
    /// An unknown or closed I/O handle (POE: `select_*` on a handle it does
    /// not know).
    NoSuchHandle,
    /// `refcount_decrement` of a tag the session does not hold.
    NoSuchTag(String),
    /// An argument the call cannot accept (POE: `EINVAL`).
    InvalidArgument(&'static str),
    /// A handler panicked (POE: it died). For a `call`, the panic was
    /// caught and became a DIE signal; from `run()`, nobody handled that
    /// signal, or the panic was fatal (in `_stop` or a DIE watcher).
    Panicked {
        /// The session whose handler panicked.
        session: SessionId,
        /// The event it was handling.
        event: String,
        /// The panic message (POE's `$@`).
        message: String,
    },
    /// A missing or mistyped event argument, so that handlers returning
    /// `Result<_, rpoe::Error>` can use `?` on both kinds of failure.
    Arg(ArgError),
}

impl From<ArgError> for Error {
    fn from(e: ArgError) -> Self {
        Error::Arg(e)
    }
}

impl Error {
    /// The POE `$!` value this error stands for (Linux numbering).
    pub fn errno(&self) -> i32 {
        match self {
            Error::NoSuchSession(_)
            | Error::NoSuchAlias(_)
            | Error::NoSuchAlarm
            | Error::NoSuchTag(_)
            | Error::NoSuchHandle => 3, // ESRCH
            Error::NoHandler { .. } => 38, // ENOSYS
            Error::Reentrant { .. } => 35, // EDEADLK
            Error::Handler { .. } | Error::Panicked { .. } => 0,
            Error::AliasInUse { .. } => 17, // EEXIST
            Error::NotPermitted(_) => 1,    // EPERM
            Error::NoStartState | Error::InvalidArgument(_) | Error::Arg(_) => 22, // EINVAL
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSuchSession(t) => write!(f, "no session matches {t:?}"),
            Error::NoHandler { session, event } => write!(
                f,
                "session {session} has neither a handler for '{event}' nor one for _default"
            ),
            Error::Reentrant { session, event } => write!(
                f,
                "cannot deliver '{event}' to session {session}: its handler is already running \
                 (a call cycle such as A -> B -> A)"
            ),
            Error::Handler {
                session,
                event,
                source,
            } => write!(
                f,
                "handler for '{event}' in session {session} failed: {source}"
            ),
            Error::Panicked {
                session,
                event,
                message,
            } => write!(
                f,
                "handler for '{event}' in session {session} panicked: {message}"
            ),
            Error::AliasInUse { alias, owner } => {
                write!(f, "alias '{alias}' is in use by session {owner}")
            }
            Error::NoSuchAlias(a) => write!(f, "no such alias '{a}'"),
            Error::NotPermitted(why) => write!(f, "not permitted: {why}"),
            Error::NoStartState => write!(f, "session has no '_start' state"),
            Error::NoSuchAlarm => write!(f, "no such alarm"),
            Error::NoSuchHandle => write!(f, "no such I/O handle"),
            Error::NoSuchTag(t) => write!(f, "no extra reference tagged '{t}'"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::Arg(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Handler { source, .. } => Some(source.as_ref()),
            Error::Arg(e) => Some(e),
            _ => None,
        }
    }
}

/// A dispatch's outcome inside the kernel: the handler's value, or what
/// went wrong, boxed. With the error boxed the value sits at the start and
/// the whole is a `Value`'s 32 bytes (`Result<Value, Error>` is 64, the
/// value at offset 8), so returning it through the dispatch path moves
/// less, and in pieces that match the value's own. The public calls
/// unbox the error where they return ([`unboxed`]); failures are rare.
pub(crate) type Outcome = Result<super::Value, Box<Error>>;

/// An [`Outcome`] as the public calls return it.
#[inline(always)]
pub(crate) fn unboxed(outcome: Outcome) -> Result<super::Value, Error> {
    outcome.map_err(|e| *e)
}
