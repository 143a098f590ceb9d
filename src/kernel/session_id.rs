//! `SessionId`: POE's session IDs, counting up from 1 and never reused.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The identity of a session, as POE's `$session->ID`.
///
/// IDs count up from 1 in creation order and are never reused within a kernel,
/// exactly as POE's are. A stale id (of a session that has stopped) can never
/// reach a newer session: every lookup checks the whole id, not just the slot.
/// The kernel itself has the reserved id [`SessionId::KERNEL`] (POE's
/// `$poe_kernel`), the parent of top-level sessions and the sender of
/// kernel-generated events.
///
/// Equality, ordering and hashing use the public number only.
#[derive(Clone, Copy)]
pub struct SessionId {
    id: u64,
    /// Internal slab key; an implementation detail that makes lookups O(1).
    key: u32,
}

impl SessionId {
    /// The kernel's own id (POE's `$_[KERNEL]` seen as a session): id 0.
    pub const KERNEL: SessionId = SessionId {
        id: 0,
        key: u32::MAX,
    };

    pub(crate) fn new(id: u64, key: usize) -> Self {
        SessionId {
            id,
            key: key as u32,
        }
    }

    /// The public number, as POE's `$session->ID` (0 for the kernel).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether this is the kernel rather than a user session.
    pub fn is_kernel(&self) -> bool {
        self.id == 0
    }

    pub(crate) fn key(&self) -> usize {
        self.key as usize
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for SessionId {}
impl Hash for SessionId {
    fn hash<S: Hasher>(&self, state: &mut S) {
        self.id.hash(state)
    }
}
impl PartialOrd for SessionId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SessionId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.id.cmp(&other.id)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_kernel() {
            write!(f, "SessionId(KERNEL)")
        } else {
            write!(f, "SessionId({})", self.id)
        }
    }
}

/// Displays the number (`3`), or `KERNEL` for the kernel.
impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_kernel() {
            write!(f, "KERNEL")
        } else {
            write!(f, "{}", self.id)
        }
    }
}
