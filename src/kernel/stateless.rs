//! Closures that capture nothing, shared: one handler per closure type,
//! and one handler table per set of such handlers, each made the first
//! time a session uses it.
//!
//! A closure with no captures (no size, nothing to drop) behaves the same
//! whichever instance runs. So every session registering it can share one
//! reference-counted handler, and sessions whose handlers are all such
//! closures (a program creating many sessions of one kind from the same
//! code) can share one table, as if the program had built a
//! [`SharedStates`](crate::SharedStates) itself. Creating such a session
//! then allocates its body and nothing else: create+stop made four
//! allocations per session, and its table was the largest.
//!
//! Both caches are per thread (sessions are), keep what they made for as
//! long as the thread runs (one entry per closure type, one table per
//! distinct set of names and closure types), and are looked at only when a
//! session is built, never when it runs.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use super::ctx::Ctx;
use super::fxhash::{FxBuild, FxHasher};
use super::session::{Handler, SharedTable, States};
use super::{Args, EventName, HandlerError, Value};

/// Whether closures of type `F` capture nothing: no size, nothing to drop.
pub(crate) const fn is_stateless<F>() -> bool {
    std::mem::size_of::<F>() == 0 && !std::mem::needs_drop::<F>()
}

/// Shared tables by a hash of their contents (several per hash, should
/// two collide), each an `Rc<States<H>>` for its session's heap type.
type Tables = HashMap<u64, Vec<Box<dyn Any>>, FxBuild>;

thread_local! {
    /// One handler per stateless closure type.
    static HANDLERS: RefCell<HashMap<TypeId, Box<dyn Any>, FxBuild>> =
        RefCell::new(HashMap::default());
    /// Shared tables of stateless handlers, by a hash of their contents.
    static TABLES: RefCell<Tables> =
        RefCell::new(HashMap::default());
}

/// `f` as a handler: for a stateless closure, the one handler shared by
/// every session registering it; otherwise a handler of its own.
pub(crate) fn shared_handler<H, F>(f: F) -> Handler<H>
where
    H: 'static,
    F: Fn(&mut Ctx<'_, H>, &mut Args) -> Result<Value, HandlerError> + 'static,
{
    if !is_stateless::<F>() {
        return Rc::new(f);
    }
    // Keyed by the closure's type, which fixes H: an entry found is always
    // a Handler<H>. A thread being torn down has no cache: a new handler.
    let key = TypeId::of::<F>();
    let cached = HANDLERS
        .try_with(|cache| {
            let cache = cache.borrow();
            cache.get(&key)?.downcast_ref::<Handler<H>>().cloned()
        })
        .ok()
        .flatten();
    if let Some(handler) = cached {
        return handler;
    }
    let handler: Handler<H> = Rc::new(f);
    let _ = HANDLERS.try_with(|cache| {
        cache.borrow_mut().insert(key, Box::new(handler.clone()));
    });
    handler
}

/// How many stateless handlers a session under construction keeps without
/// a table of its own; one more, or any other handler, and it gets one.
pub(crate) const INLINE: usize = 4;

/// Makes a stateless closure's handler (with [`shared_handler`]) when it
/// is needed; boxing a closure that captures only a stateless closure
/// allocates nothing.
type Make<H> = Box<dyn FnOnce() -> Handler<H>>;

/// One handler of a [`Pending`] table: its name, its closure's type, and
/// how to make it.
struct Entry<H> {
    name: EventName,
    closure: TypeId,
    make: Make<H>,
}

/// A session's own handlers while it is built, as long as every one is a
/// stateless closure and there are at most [`INLINE`]: kept in place as
/// (name, closure type), and made into a table shared by every session
/// with the same ones at `create`. Nothing is looked up before then.
pub(crate) struct Pending<H> {
    entries: [Option<Entry<H>>; INLINE],
    /// The entries' words ([`entry_word`]) combined with XOR: the key of
    /// the shared table, whatever order the handlers came in.
    key: u64,
}

/// A shared table and what it was made from.
struct Made<H> {
    from: Vec<(EventName, TypeId)>,
    table: Rc<SharedTable<H>>,
}

impl<H> Pending<H> {
    pub(crate) fn new() -> Self {
        Pending {
            entries: Default::default(),
            key: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.iter().all(Option::is_none)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names().any(|n| n.as_str() == name)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &EventName> {
        self.entries.iter().flatten().map(|e| &e.name)
    }
}

/// Whether two names are the same: lengths first (most names differ
/// there), then the same text in the same place (a static name, or a
/// shared one, met again), and only then the text itself.
#[inline]
fn same_name(a: &EventName, b: &EventName) -> bool {
    let (a, b) = (a.as_str(), b.as_str());
    a.len() == b.len() && (std::ptr::eq(a, b) || a == b)
}

/// A word for a name: a static name's address and length, else a hash of
/// its text (so the same text always gives the same word only for shared
/// names; a static name with the same text as another elsewhere gives
/// another word, and at worst another table).
fn name_word(name: &EventName) -> u64 {
    name.static_key().unwrap_or_else(|| {
        let mut h = FxHasher::default();
        h.write(name.as_str().as_bytes());
        h.finish()
    })
}

/// A word for one handler: its name's and its closure type's.
fn entry_word(name: &EventName, closure: TypeId) -> u64 {
    let mut h = FxHasher::default();
    h.write_u64(name_word(name));
    closure.hash(&mut h);
    h.finish()
}

impl<H: 'static> Pending<H> {
    /// Adds the stateless closure `F`'s handler (made by `make` if it is
    /// ever needed), replacing one of the same name; gives it back if
    /// there is no room.
    pub(crate) fn add<F: 'static>(
        &mut self,
        name: EventName,
        make: Make<H>,
    ) -> Result<(), (EventName, Make<H>)> {
        let closure = TypeId::of::<F>();
        if let Some(e) = self
            .entries
            .iter_mut()
            .flatten()
            .find(|e| same_name(&e.name, &name))
        {
            self.key ^= entry_word(&e.name, e.closure) ^ entry_word(&e.name, closure);
            e.closure = closure;
            e.make = make;
            return Ok(());
        }
        match self.entries.iter_mut().find(|e| e.is_none()) {
            Some(free) => {
                self.key ^= entry_word(&name, closure);
                free.get_or_insert(Entry {
                    name,
                    closure,
                    make,
                });
                Ok(())
            }
            None => Err((name, make)),
        }
    }

    /// Moves the handlers into `states` (replacing any of the same name).
    pub(crate) fn drain_into(&mut self, states: &mut States<H>) {
        for e in self.entries.iter_mut().filter_map(Option::take) {
            states.insert(e.name, (e.make)());
        }
    }

    /// The shared table holding exactly these handlers: the one made for
    /// an earlier session with the same names and closures, or a new one.
    pub(crate) fn into_shared(mut self) -> Rc<SharedTable<H>> {
        // Keys can collide: a match is checked entry by entry.
        let key = self.key;
        let found = TABLES
            .try_with(|tables| {
                let tables = tables.borrow();
                tables
                    .get(&key)?
                    .iter()
                    .filter_map(|m| m.downcast_ref::<Made<H>>())
                    .find(|m| self.matches(&m.from))
                    .map(|m| m.table.clone())
            })
            .ok()
            .flatten();
        if let Some(table) = found {
            return table;
        }
        let from = self
            .entries
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.closure))
            .collect();
        let mut states = States::default();
        self.drain_into(&mut states);
        let table = Rc::new(SharedTable::new(states));
        let made = Made {
            from,
            table: table.clone(),
        };
        let _ = TABLES.try_with(|tables| {
            let mut tables = tables.borrow_mut();
            tables.entry(key).or_default().push(Box::new(made));
        });
        table
    }

    /// Whether `from` lists exactly these names, each with the same
    /// closure type.
    fn matches(&self, from: &[(EventName, TypeId)]) -> bool {
        let mut n = 0;
        for e in self.entries.iter().flatten() {
            n += 1;
            if !from
                .iter()
                .any(|(name, c)| *c == e.closure && same_name(name, &e.name))
            {
                return false;
            }
        }
        from.len() == n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stateless() -> impl Fn(&mut Ctx<'_, u8>, &mut Args) -> Result<Value, HandlerError> {
        |ctx, _| {
            *ctx.heap += 1;
            Ok(Value::Undef)
        }
    }

    /// A guard with nothing in it but a `Drop`: zero-sized, yet not
    /// stateless (dropping it does something).
    struct Noisy;
    impl Drop for Noisy {
        fn drop(&mut self) {}
    }

    /// Pins `shared_handler`: a closure that captures nothing is made into
    /// a handler once and shared; one that captures something, or holds
    /// something with a `Drop`, gets its own every time.
    #[test]
    fn only_stateless_closures_share_one_handler() {
        let (a, b) = (shared_handler(stateless()), shared_handler(stateless()));
        assert!(Rc::ptr_eq(&a, &b), "stateless: shared");

        let n = 5u8;
        let capturing = || {
            shared_handler(move |ctx: &mut Ctx<'_, u8>, _: &mut Args| {
                *ctx.heap += n;
                Ok(Value::Undef)
            })
        };
        assert!(!Rc::ptr_eq(&capturing(), &capturing()), "capturing: own");

        let dropping = || {
            let guard = Noisy;
            shared_handler(move |_: &mut Ctx<'_, u8>, _: &mut Args| {
                let _keep = &guard;
                Ok(Value::Undef)
            })
        };
        assert!(!Rc::ptr_eq(&dropping(), &dropping()), "with a Drop: own");
    }

    /// A pending table of `names`, each the same stateless closure.
    fn pending(names: &[&'static str]) -> Pending<u8> {
        let mut p = Pending::new();
        for name in names {
            let made = p.add::<Tick>(EventName::from_static(name), make_tick());
            assert!(made.is_ok());
        }
        p
    }

    type Tick = fn();
    fn make_tick() -> Make<u8> {
        Box::new(|| shared_handler(stateless()))
    }

    /// Pins `Pending::into_shared`: the same names with the same closure
    /// types share a table, in any order; other names, fewer names or
    /// another closure type under a name get another table.
    #[test]
    fn the_same_stateless_handlers_share_one_table() {
        let a = pending(&["_start", "tick"]).into_shared();
        let b = pending(&["tick", "_start"]).into_shared();
        assert!(Rc::ptr_eq(&a, &b), "same names and closures");
        assert_eq!(a.states().len(), 2);
        assert!(
            !Rc::ptr_eq(&a, &pending(&["_start"]).into_shared()),
            "fewer"
        );
        assert!(
            !Rc::ptr_eq(&a, &pending(&["_start", "tock"]).into_shared()),
            "other name"
        );
        let mut other = pending(&["_start"]);
        assert!(other
            .add::<u32>(EventName::from_static("tick"), make_tick())
            .is_ok());
        assert!(!Rc::ptr_eq(&a, &other.into_shared()), "other closure");
    }

    /// A name added again replaces its handler; a fifth name does not fit.
    #[test]
    fn pending_replaces_and_fills_up() {
        let mut p = pending(&["a", "b", "c", "d"]);
        assert!(p
            .add::<Tick>(EventName::from_static("a"), make_tick())
            .is_ok());
        assert!(p
            .add::<Tick>(EventName::from_static("e"), make_tick())
            .is_err());
        assert_eq!(p.names().count(), INLINE);
        assert!(p.contains("d") && !p.contains("e"));
    }
}
