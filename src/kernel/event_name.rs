//! `EventName`: the name of an event or state, as POE's strings.

use std::borrow::{Borrow, Cow};
use std::fmt;

/// The name of an event (POE's `$_[STATE]`), cheap to clone for static names.
///
/// Built from `&'static str` without allocating, or from a `String`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventName(Cow<'static, str>);

impl EventName {
    /// A name from a static string, usable in `const` context.
    pub const fn from_static(s: &'static str) -> Self {
        EventName(Cow::Borrowed(s))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for EventName {
    fn from(s: &'static str) -> Self {
        EventName(Cow::Borrowed(s))
    }
}

impl From<String> for EventName {
    fn from(s: String) -> Self {
        EventName(Cow::Owned(s))
    }
}

impl From<&String> for EventName {
    fn from(s: &String) -> Self {
        EventName(Cow::Owned(s.clone()))
    }
}

impl Borrow<str> for EventName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for EventName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
