//! `EventName`: the name of an event or state, as POE's strings.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::rc::Rc;

/// The name of an event (POE's `$_[STATE]`), cheap to clone: a static
/// string, or a reference-counted one for names made at run time (a
/// wheel's `"POE::Wheel::ReadWrite(3) -> select read"`), so that the
/// frames and events that repeat a name never copy it.
#[derive(Clone)]
pub struct EventName(Repr);

/// The shared form is dropped by `EventName`'s own `Drop`, so that
/// dropping a static name (nearly every name) is one inline test, not a
/// call: a frame holds three names and is dropped on every dispatch.
#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(ManuallyDrop<Rc<str>>),
}

impl Drop for EventName {
    #[inline(always)]
    fn drop(&mut self) {
        if matches!(self.0, Repr::Shared(_)) {
            drop_shared(&mut self.0);
        }
    }
}

/// Lets go of a shared name, out of line.
#[inline(never)]
fn drop_shared(repr: &mut Repr) {
    if let Repr::Shared(rc) = std::mem::replace(repr, Repr::Static("")) {
        drop(ManuallyDrop::into_inner(rc));
    }
}

impl EventName {
    /// A name from a static string, usable in `const` context.
    pub const fn from_static(s: &'static str) -> Self {
        EventName(Repr::Static(s))
    }

    /// For a name made from a static string: its address and length in
    /// one word (the length above bit 48, which no user-space address
    /// reaches), which identify it for as long as the program runs. A
    /// shared name's memory can be freed and reused by another name, and
    /// a name of 64 KiB or more would not fit: those have none.
    #[inline]
    pub(crate) fn static_key(&self) -> Option<u64> {
        match &self.0 {
            Repr::Static(s) => {
                let (at, len) = (s.as_ptr() as usize as u64, s.len() as u64);
                (at < 1 << 48 && len < 1 << 16).then_some(at | len << 48)
            }
            Repr::Shared(_) => None,
        }
    }

    /// The string of a name made from a static string (which identifies
    /// it, by address and length, for as long as the program runs); `None`
    /// for a shared name, whose memory can be freed and reused.
    #[inline(always)]
    pub(crate) fn as_static(&self) -> Option<&'static str> {
        match &self.0 {
            Repr::Static(s) => Some(s),
            Repr::Shared(_) => None,
        }
    }

    /// Whether the name is shared (made at run time), which dropping it
    /// must let go of; a static name needs no drop.
    #[inline(always)]
    pub(crate) fn is_shared(&self) -> bool {
        matches!(self.0, Repr::Shared(_))
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
        EventName(Repr::Shared(ManuallyDrop::new(Rc::from(s))))
    }
}

impl From<&String> for EventName {
    fn from(s: &String) -> Self {
        EventName(Repr::Shared(ManuallyDrop::new(Rc::from(s.as_str()))))
    }
}

impl PartialEq for EventName {
    /// By content; the same static string (the usual case: a handler's
    /// name and the name posted to it are one literal in the binary) is
    /// recognised by its address without comparing bytes.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.as_str(), other.as_str());
        (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || same_bytes(a.as_bytes(), b.as_bytes())
    }
}

/// Byte equality for names: those of up to 16 bytes (most event names)
/// are compared inline (as two overlapping words from 4 bytes on), not
/// through a `memcmp` call, which costs more than the comparison.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8)
    } else if (4..8).contains(&n) {
        word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4)
    } else if n < 4 {
        a.iter().zip(b).all(|(x, y)| x == y)
    } else {
        a == b
    }
}

/// The `N` bytes of `s` at `at`, as a number (`N` is 4 or 8).
#[inline(always)]
fn word<const N: usize>(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w[..N].copy_from_slice(&s[at..at + N]);
    u64::from_le_bytes(w)
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

#[cfg(test)]
impl EventName {
    /// How many names share this one's text (`None` for a static name).
    pub(crate) fn share_count(&self) -> Option<usize> {
        match &self.0 {
            Repr::Static(_) => None,
            Repr::Shared(rc) => Some(Rc::strong_count(rc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-wise comparison agrees with plain equality for every
    /// length up to 40 and a difference at every position.
    #[test]
    fn same_bytes_agrees_with_plain_equality() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| b'a' + i % 26).collect();
            assert!(same_bytes(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "n {n} at {at}");
            }
            let mut longer = a.clone();
            longer.push(b'z');
            assert!(!same_bytes(&a, &longer));
        }
        let x = EventName::from(String::from("tcp_server_got_input"));
        assert_eq!(x, EventName::from_static("tcp_server_got_input"));
        assert_ne!(x, EventName::from_static("tcp_server_got_inpuT"));
    }
}
