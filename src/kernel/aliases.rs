//! Aliases (POE's `alias_set`, `alias_remove`, `alias_resolve`,
//! `alias_list`) and id lookups (`ID_id_to_session`).

use std::collections::HashMap;

use super::core::Core;
use super::ctx::KernelHandle;
use super::event_name::same_bytes;
use super::fxhash::FxBuild;
use super::{Error, SessionId, Target};

/// How many aliases the table keeps in its list before it moves them to a
/// hash map.
const FEW: usize = 8;

/// POE's alias table: alias -> session. Most programs hold a few aliases
/// (a server's, a few services'), and a post to one looks it up: up to
/// [`FEW`] are kept in a list searched by length first and then by text
/// compared inline, where a hash map hashed the name and compared it with
/// a `memcmp` call (about 110 instructions a lookup, on a post ping-pong's
/// every round trip). More aliases than that go to a hash map.
#[derive(Debug, Default)]
pub(crate) struct AliasTable {
    /// The aliases while there are at most [`FEW`] (and `many` is empty).
    few: Vec<(Box<str>, SessionId)>,
    /// The aliases once there were more (`few` is then empty).
    many: HashMap<String, SessionId, FxBuild>,
}

impl AliasTable {
    /// The session holding `alias`.
    #[inline]
    pub fn get(&self, alias: &str) -> Option<SessionId> {
        if self.many.is_empty() {
            self.few
                .iter()
                .find(|(a, _)| same_bytes(a.as_bytes(), alias.as_bytes()))
                .map(|&(_, sid)| sid)
        } else {
            self.many.get(alias).copied()
        }
    }

    /// Adds `alias`, which the table does not hold, for `sid`.
    pub fn insert(&mut self, alias: &str, sid: SessionId) {
        if self.many.is_empty() && self.few.len() < FEW {
            self.few.push((alias.into(), sid));
            return;
        }
        for (a, s) in self.few.drain(..) {
            self.many.insert(a.into(), s);
        }
        self.many.insert(alias.to_owned(), sid);
    }

    /// Removes `alias`, if the table holds it.
    pub fn remove(&mut self, alias: &str) {
        match self
            .few
            .iter()
            .position(|(a, _)| same_bytes(a.as_bytes(), alias.as_bytes()))
        {
            Some(i) => {
                self.few.swap_remove(i);
            }
            None => {
                self.many.remove(alias);
            }
        }
    }
}

impl Core {
    pub(crate) fn alias_set(&mut self, sid: SessionId, alias: &str) -> Result<(), Error> {
        match self.aliases.get(alias) {
            Some(owner) if owner == sid => Ok(()),
            Some(owner) => Err(Error::AliasInUse {
                alias: alias.to_owned(),
                owner,
            }),
            None => {
                let entry = self
                    .entry_mut(sid)
                    .ok_or_else(|| Error::NoSuchSession(sid.to_string()))?;
                entry.extras_mut().aliases.push(alias.to_owned());
                self.aliases.insert(alias, sid);
                Ok(())
            }
        }
    }

    pub(crate) fn alias_remove(&mut self, sid: SessionId, alias: &str) -> Result<(), Error> {
        match self.aliases.get(alias) {
            None => Err(Error::NoSuchAlias(alias.to_owned())),
            Some(owner) if owner != sid => {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The table answers as a hash map does through any mix of inserts and
    /// removals, across the move from its list to its map.
    #[test]
    fn the_alias_table_answers_as_a_map_does() {
        let mut table = AliasTable::default();
        let mut model: HashMap<String, SessionId> = HashMap::new();
        let mut x: u64 = 7;
        for step in 0..4000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let name = format!("alias{}", (x >> 33) % 24);
            let sid = SessionId::new(step + 1, step as usize);
            if (x >> 20) % 3 == 0 {
                table.remove(&name);
                model.remove(&name);
            } else if !model.contains_key(&name) {
                table.insert(&name, sid);
                model.insert(name.clone(), sid);
            }
            for i in 0..24 {
                let probe = format!("alias{i}");
                assert_eq!(table.get(&probe), model.get(&probe).copied(), "step {step}");
            }
            assert!(table.few.is_empty() || table.many.is_empty());
        }
        assert!(!table.many.is_empty(), "the map was never reached");
    }
}
