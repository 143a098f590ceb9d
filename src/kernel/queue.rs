//! The event queue: POE's one queue, ordered by (due time, sequence).
//!
//! POE keeps posts and timers in one priority queue: a post's priority is the
//! time it was posted, a timer's is its due time, and equal priorities keep
//! insertion order. Here posts live in a `VecDeque` (their stamps only grow)
//! and timers in a `BTreeMap` keyed by `(due, seq)`; the head of the queue is
//! whichever of the two heads is smaller. The order is the same as one merged
//! queue, but a post costs O(1) and a timer O(log n).

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::fxhash::FxBuild;
use super::{Args, EventName, SessionId};

/// A timer's id, as returned by `delay_set` (POE's alarm id).
///
/// Ids are drawn from the same counter as every queued event, as in POE,
/// so they only grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlarmId(pub(crate) u64);

impl AlarmId {
    /// The number, as POE's alarm id.
    pub fn id(&self) -> u64 {
        self.0
    }

    /// An id from its number (for example one stored outside the kernel);
    /// calls with an id that names no queued timer fail cleanly.
    pub fn from_id(id: u64) -> Self {
        AlarmId(id)
    }
}

/// What kind of queued item this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `post` / `yield`.
    Post,
    /// A timer (`delay*`, `alarm*`).
    Timer(AlarmId),
    /// A timer whose handler travels as ARG0 (`Ctx::delay_set_state`).
    StateTimer(AlarmId),
    /// A `_signal` dispatch (`signal`, IDLE, ZOMBIE).
    Signal,
    /// POE's internal `_garbage_collect`: holds a new session until the
    /// first dispatch batch, then lets the GC look at it.
    Gc,
}

impl Kind {
    /// The alarm id of a timer.
    #[inline]
    pub(crate) fn alarm(&self) -> Option<AlarmId> {
        match *self {
            Kind::Timer(id) | Kind::StateTimer(id) => Some(id),
            _ => None,
        }
    }
}

/// One queued event.
#[derive(Debug)]
pub(crate) struct Event {
    pub dest: SessionId,
    pub source: SessionId,
    pub name: EventName,
    pub args: Args,
    pub kind: Kind,
    /// The event that was active when this one was queued (CALLER_STATE).
    pub caller_state: Option<EventName>,
}

/// Position in the queue: due time in kernel nanoseconds, then sequence.
pub(crate) type Key = (i64, u64);

/// A queued timer: its event and POE's wall time for it (epoch seconds,
/// as set plus any adjustments), which is what POE reports back.
#[derive(Debug)]
pub(crate) struct Timer {
    pub ev: Event,
    pub wall: f64,
}

#[derive(Debug, Default)]
pub(crate) struct Queue {
    posts: VecDeque<(Key, Event)>,
    timers: BTreeMap<Key, Timer>,
    /// Alarm id -> its current key in `timers`.
    alarms: HashMap<AlarmId, Key, FxBuild>,
    next_seq: u64,
}

impl Queue {
    /// The next sequence number (also the next alarm id).
    #[inline]
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// The sequence number the next item will get: items below it were
    /// queued before now.
    #[inline]
    pub fn seq_mark(&self) -> u64 {
        self.next_seq + 1
    }

    #[inline]
    pub fn push_post(&mut self, due: i64, ev: Event) {
        let seq = self.next_seq();
        self.posts.push_back(((due, seq), ev));
    }

    pub fn push_timer(&mut self, due: i64, wall: f64, ev: Event) -> AlarmId {
        let seq = self.next_seq();
        let id = AlarmId(seq);
        let mut ev = ev;
        ev.kind = match ev.kind {
            Kind::StateTimer(_) => Kind::StateTimer(id),
            _ => Kind::Timer(id),
        };
        self.timers.insert((due, seq), Timer { ev, wall });
        self.alarms.insert(id, (due, seq));
        id
    }

    /// Moves a timer to a new due time, after the timers already due then
    /// (POE re-inserts adjusted items after equals); its id stays.
    pub fn move_alarm(&mut self, id: AlarmId, due: i64, wall: f64) -> bool {
        let Some(key) = self.alarms.get(&id).copied() else {
            return false;
        };
        let Some(mut timer) = self.timers.remove(&key) else {
            return false;
        };
        timer.wall = wall;
        let seq = self.next_seq();
        self.timers.insert((due, seq), timer);
        self.alarms.insert(id, (due, seq));
        true
    }

    /// A queued timer's key and record.
    pub fn alarm(&self, id: AlarmId) -> Option<(Key, &Timer)> {
        let key = self.alarms.get(&id)?;
        self.timers.get(key).map(|t| (*key, t))
    }

    /// The due time of the earliest timer.
    pub fn next_timer(&self) -> Option<i64> {
        self.timers.keys().next().map(|k| k.0)
    }

    #[inline]
    pub fn has_timers(&self) -> bool {
        !self.timers.is_empty()
    }

    /// Drops everything queued; sequence numbers keep counting.
    pub fn clear(&mut self) {
        self.posts.clear();
        self.timers.clear();
        self.alarms.clear();
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.posts.len() + self.timers.len()
    }

    /// Whether a post is queued (posts are always due).
    #[inline]
    pub fn has_posts(&self) -> bool {
        !self.posts.is_empty()
    }

    /// The key of the head item.
    pub fn head(&self) -> Option<Key> {
        let p = self.posts.front().map(|(k, _)| *k);
        let t = self.timers.keys().next().copied();
        match (p, t) {
            (Some(p), Some(t)) => Some(p.min(t)),
            (p, t) => p.or(t),
        }
    }

    /// Pops the head if it sorts before `limit`.
    #[inline]
    pub fn pop_before(&mut self, limit: Key) -> Option<Event> {
        if self.timers.is_empty() {
            // The common case: posts only, already in order.
            return match self.posts.front() {
                Some((k, _)) if *k < limit => self.posts.pop_front().map(|(_, ev)| ev),
                _ => None,
            };
        }
        let p = self.posts.front().map(|(k, _)| *k);
        let t = self.timers.keys().next().copied();
        let take_post = match (p, t) {
            (Some(p), Some(t)) => p < t,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if take_post {
            if p? >= limit {
                return None;
            }
            self.posts.pop_front().map(|(_, ev)| ev)
        } else {
            let (key, timer) = self.timers.pop_first()?;
            if key >= limit {
                self.timers.insert(key, timer);
                return None;
            }
            if let Some(id) = timer.ev.kind.alarm() {
                self.alarms.remove(&id);
            }
            Some(timer.ev)
        }
    }

    /// Removes a timer by id.
    pub fn remove_alarm(&mut self, id: AlarmId) -> Option<Timer> {
        let key = self.alarms.remove(&id)?;
        self.timers.remove(&key)
    }

    /// The timer's event name, if it is queued.
    pub fn alarm_name(&self, id: AlarmId) -> Option<&EventName> {
        self.alarm(id).map(|(_, t)| &t.ev.name)
    }

    /// The timer's destination, if it is queued.
    pub fn alarm_owner(&self, id: AlarmId) -> Option<SessionId> {
        self.alarm(id).map(|(_, t)| t.ev.dest)
    }

    /// Removes every item for which `pred` holds, returning them.
    pub fn remove_where(&mut self, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
        let mut removed = Vec::new();
        if self.posts.iter().any(|(_, e)| pred(e)) {
            let mut kept = VecDeque::with_capacity(self.posts.len());
            for (k, e) in self.posts.drain(..) {
                if pred(&e) {
                    removed.push(e);
                } else {
                    kept.push_back((k, e));
                }
            }
            self.posts = kept;
        }
        let keys: Vec<Key> = self
            .timers
            .iter()
            .filter(|(_, t)| pred(&t.ev))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            if let Some(t) = self.timers.remove(&k) {
                if let Some(id) = t.ev.kind.alarm() {
                    self.alarms.remove(&id);
                }
                removed.push(t.ev);
            }
        }
        removed
    }
}
