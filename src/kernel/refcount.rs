//! Extra references (POE's `refcount_increment` / `refcount_decrement`):
//! tagged counts that keep a session alive and block IDLE.

use super::core::Core;
use super::ctx::KernelHandle;
use super::{Error, SessionId};

impl Core {
    pub(crate) fn refcount_increment(&mut self, sid: SessionId, tag: &str) -> Result<u32, Error> {
        let entry = self
            .entry_mut(sid)
            .ok_or_else(|| Error::NoSuchSession(sid.to_string()))?;
        let extrefs = &mut entry.extras_mut().extrefs;
        if let Some((_, n)) = extrefs.iter_mut().find(|(t, _)| t == tag) {
            *n += 1;
            return Ok(*n);
        }
        extrefs.push((tag.to_owned(), 1));
        self.extref_total += 1;
        Ok(1)
    }

    pub(crate) fn refcount_decrement(&mut self, sid: SessionId, tag: &str) -> Result<u32, Error> {
        let entry = self
            .entry_mut(sid)
            .ok_or_else(|| Error::NoSuchSession(sid.to_string()))?;
        let i = entry
            .extrefs()
            .iter()
            .position(|(t, _)| t == tag)
            .ok_or_else(|| Error::NoSuchTag(tag.to_owned()))?;
        let extrefs = &mut entry.extras_mut().extrefs;
        extrefs[i].1 -= 1;
        let n = extrefs[i].1;
        if n == 0 {
            extrefs.swap_remove(i);
            self.extref_total -= 1;
            self.maybe_mark(sid);
        }
        Ok(n)
    }
}

impl KernelHandle<'_> {
    /// Adds one to a session's count for `tag` and returns the new count
    /// (POE's `refcount_increment`). The first reference of a tag keeps the
    /// session alive; any extra reference anywhere blocks IDLE.
    ///
    /// # Errors
    /// [`Error::NoSuchSession`] (ESRCH).
    pub fn refcount_increment(&mut self, session: SessionId, tag: &str) -> Result<u32, Error> {
        self.core.refcount_increment(session, tag)
    }

    /// Subtracts one from a session's count for `tag` and returns the new
    /// count (POE's `refcount_decrement`); at zero the tag is gone and the
    /// session may be garbage-collected.
    ///
    /// # Errors
    /// [`Error::NoSuchSession`] (ESRCH), or [`Error::NoSuchTag`] for a tag
    /// the session does not hold.
    pub fn refcount_decrement(&mut self, session: SessionId, tag: &str) -> Result<u32, Error> {
        self.core.refcount_decrement(session, tag)
    }
}
