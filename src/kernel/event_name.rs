//! `EventName`: the name of an event or state, as POE's strings.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// The name of an event (POE's `$_[STATE]`), cheap to clone: a static
/// string, or a reference-counted one for names made at run time (a
/// wheel's `"POE::Wheel::ReadWrite(3) -> select read"`), so that the
/// frames and events that repeat a name never copy it.
#[derive(Clone)]
pub struct EventName(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Rc<str>),
}

impl EventName {
    /// A name from a static string, usable in `const` context.
    pub const fn from_static(s: &'static str) -> Self {
        EventName(Repr::Static(s))
    }

    /// The name as a string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl From<&'static str> for EventName {
    fn from(s: &'static str) -> Self {
        EventName(Repr::Static(s))
    }
}

impl From<String> for EventName {
    fn from(s: String) -> Self {
        EventName(Repr::Shared(Rc::from(s)))
    }
}

impl From<&String> for EventName {
    fn from(s: &String) -> Self {
        EventName(Repr::Shared(Rc::from(s.as_str())))
    }
}

impl PartialEq for EventName {
    /// By content; the same static string (the usual case: a handler's
    /// name and the name posted to it are one literal in the binary) is
    /// recognised by its address without comparing bytes.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.as_str(), other.as_str());
        (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
    }
}

impl Eq for EventName {}

impl Hash for EventName {
    // As `str` hashes, so that maps keyed by names can be searched by `&str`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for EventName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EventName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Borrow<str> for EventName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for EventName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
