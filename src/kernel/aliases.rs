//! Aliases (POE's `alias_set`, `alias_remove`, `alias_resolve`,
//! `alias_list`) and id lookups (`ID_id_to_session`).

use super::core::Core;
use super::ctx::KernelHandle;
use super::{Error, SessionId, Target};

impl Core {
    pub(crate) fn alias_set(&mut self, sid: SessionId, alias: &str) -> Result<(), Error> {
        match self.aliases.get(alias) {
            Some(owner) if *owner == sid => Ok(()),
            Some(owner) => Err(Error::AliasInUse {
                alias: alias.to_owned(),
                owner: *owner,
            }),
            None => {
                let entry = self
                    .entry_mut(sid)
                    .ok_or_else(|| Error::NoSuchSession(sid.to_string()))?;
                entry.extras_mut().aliases.push(alias.to_owned());
                self.aliases.insert(alias.to_owned(), sid);
                Ok(())
            }
        }
    }

    pub(crate) fn alias_remove(&mut self, sid: SessionId, alias: &str) -> Result<(), Error> {
        match self.aliases.get(alias) {
            None => Err(Error::NoSuchAlias(alias.to_owned())),
            Some(owner) if *owner != sid => {
                Err(Error::NotPermitted("the alias belongs to another session"))
            }
            Some(_) => {
                self.aliases.remove(alias);
                if let Some(entry) = self.entry_mut(sid) {
                    entry.extras_mut().aliases.retain(|a| a != alias);
                }
                self.maybe_mark(sid);
                Ok(())
            }
        }
    }

    pub(crate) fn alias_list(&self, sid: SessionId) -> Vec<String> {
        let mut list = self
            .entry(sid)
            .map(|e| e.aliases().to_vec())
            .unwrap_or_default();
        list.sort();
        list
    }
}

impl KernelHandle<'_> {
    /// Gives this session an alias (POE's `alias_set`). Setting an alias
    /// the session already has is not an error. Each alias keeps the session
    /// alive, as in POE.
    ///
    /// # Errors
    /// [`Error::AliasInUse`] if another session holds it (POE: EEXIST).
    pub fn alias_set(&mut self, alias: &str) -> Result<(), Error> {
        self.core.alias_set(self.frame.session, alias)
    }

    /// Removes one of this session's aliases (POE's `alias_remove`); the
    /// session may then be garbage-collected.
    ///
    /// # Errors
    /// [`Error::NoSuchAlias`] (ESRCH), or [`Error::NotPermitted`] if another
    /// session holds it (EPERM).
    pub fn alias_remove(&mut self, alias: &str) -> Result<(), Error> {
        self.core.alias_remove(self.frame.session, alias)
    }

    /// Resolves an alias, a session number or an id to a live session
    /// (POE's `alias_resolve`).
    pub fn alias_resolve<'t>(&self, target: impl Into<Target<'t>>) -> Option<SessionId> {
        self.core.resolve(target.into()).ok()
    }

    /// The sorted aliases of a session (POE's `alias_list`).
    pub fn alias_list(&self, session: SessionId) -> Vec<String> {
        self.core.alias_list(session)
    }

    /// Finds a live session by its number (POE's `ID_id_to_session`);
    /// 0 is the kernel. This walks the session table: O(sessions).
    pub fn id_to_session(&self, id: u64) -> Option<SessionId> {
        self.core.id_to_session(id)
    }
}
