//! `Target`: where `post`, `call` and `signal` send (POE's session resolution).

use super::SessionId;

/// A destination for `post`, `call` or `signal`: a session id, or a name that
/// is resolved as an alias first and as a decimal session number second
/// (POE's `_resolve_session`). Resolution happens when the event is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// A session by id.
    Id(SessionId),
    /// An alias, or a session number written as a string.
    Name(&'a str),
}

impl From<SessionId> for Target<'_> {
    fn from(s: SessionId) -> Self {
        Target::Id(s)
    }
}

impl From<&SessionId> for Target<'_> {
    fn from(s: &SessionId) -> Self {
        Target::Id(*s)
    }
}

impl<'a> From<&'a str> for Target<'a> {
    fn from(s: &'a str) -> Self {
        Target::Name(s)
    }
}

impl<'a> From<&'a String> for Target<'a> {
    fn from(s: &'a String) -> Self {
        Target::Name(s)
    }
}
