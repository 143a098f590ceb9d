//! The event queue: POE's one queue, ordered by (due time, sequence).
//!
//! POE keeps posts and timers in one priority queue: a post's priority is the
//! time it was posted, a timer's is its due time, and equal priorities keep
//! insertion order. Here posts live in a `VecDeque` (their stamps only grow)
//! and timers in a heap (`timer_heap`); the head of the queue is whichever of
//! the two heads is smaller. The order is the same as one merged queue, but a
//! post costs O(1) and a timer O(log n).
//!
//! A timer's record stays in one slot of a slab from set to fire; the heap
//! holds only its due time, its tie (its place among equal due times) and
//! its slot, 16 bytes, so ordering a million timers moves small entries, not
//! events. Removing or moving a timer leaves its old heap entry behind,
//! recognised as stale because the slot no longer holds that tie (ties are
//! unique among the heap's entries): stale entries are dropped when they
//! reach the top, and the heap is rebuilt when they outnumber the live ones,
//! so re-arming the same timeout on every input stays O(log n) with bounded
//! memory.

use std::collections::VecDeque;

use slab::Slab;

use super::timer_heap::{Entry, TimerHeap};
use super::{Args, EventName, SessionId};

/// A timer's id, as returned by `delay_set` (POE's alarm id).
///
/// Ids are drawn from the same counter as every queued event, as in POE,
/// so they only grow. An id also remembers where its timer is kept, so
/// the kernel finds the timer without a lookup table; two ids are equal
/// (and hash, order and print) by their number alone.
#[derive(Clone, Copy)]
pub struct AlarmId {
    seq: u64,
    /// The timer's slot in the queue, checked against `seq` before use;
    /// [`NO_SLOT`] for an id made from its number.
    slot: u32,
}

/// The slot of an id whose timer's place is not known.
const NO_SLOT: u32 = u32::MAX;

impl AlarmId {
    /// The id of the timer with sequence number `seq`, kept in `slot`.
    pub(crate) fn new(seq: u64, slot: usize) -> Self {
        AlarmId {
            seq,
            slot: u32::try_from(slot).unwrap_or(NO_SLOT),
        }
    }

    /// The number, as POE's alarm id.
    pub fn id(&self) -> u64 {
        self.seq
    }

    /// An id from its number (for example one stored outside the kernel);
    /// calls with an id that names no queued timer fail cleanly. The
    /// kernel then searches its timers for the number, which costs time
    /// in proportion to how many are queued: keep the `AlarmId` itself
    /// where you can.
    pub fn from_id(id: u64) -> Self {
        AlarmId {
            seq: id,
            slot: NO_SLOT,
        }
    }
}

impl PartialEq for AlarmId {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Eq for AlarmId {}

impl std::hash::Hash for AlarmId {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.seq.hash(state);
    }
}

impl PartialOrd for AlarmId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AlarmId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.seq.cmp(&other.seq)
    }
}

impl std::fmt::Debug for AlarmId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlarmId({})", self.seq)
    }
}

/// Which head is due: see [`Queue::due_before`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    Post,
    Timer,
    /// A new session's hold (POE's `_garbage_collect` event).
    Hold,
}

/// What kind of queued item this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `post` / `yield`.
    Post,
    /// A timer (`delay*`, `alarm*`), with its alarm id's number.
    Timer(u64),
    /// A timer whose handler travels as ARG0 (`Ctx::delay_set_state`).
    StateTimer(u64),
    /// A `_signal` dispatch (`signal`, IDLE, ZOMBIE).
    Signal,
}

impl Kind {
    /// The alarm id number of a timer.
    #[inline]
    pub(crate) fn alarm(&self) -> Option<u64> {
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

/// A timer in its slot, with its current position in the queue and the
/// tie of its entry in the heap.
#[derive(Debug)]
struct Slot {
    key: Key,
    tie: u32,
    timer: Timer,
}

/// Heap entries that may be stale before the heap is rebuilt, at least.
const STALE_SLACK: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct Queue {
    posts: VecDeque<(Key, Event)>,
    /// Timer order, earliest on top. The top entry is always live (see
    /// [`settle`](Self::settle)).
    order: TimerHeap,
    /// The next entry's tie (see [`next_tie`](Self::next_tie)).
    next_tie: u32,
    /// The queued timers.
    slots: Slab<Slot>,
    /// Entries of `order` whose timer was removed or moved since.
    stale: usize,
    next_seq: u64,
    /// New sessions held until their turn in the queue (POE queues an
    /// internal `_garbage_collect` event per new session, all of whose
    /// work is to let go of it): kept apart from posts as `(key, session)`,
    /// 24 bytes instead of a whole event, and merged with them by key.
    holds: VecDeque<(Key, SessionId)>,
    /// Holds whose session stopped before its turn (left in place, not
    /// searched for; they count as gone).
    dead_holds: usize,
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

    #[inline(always)]
    pub fn push_post(&mut self, due: i64, ev: Event) {
        let seq = self.next_seq();
        if self.posts.len() < self.posts.capacity() {
            // No growth on this path, so nothing stands between building
            // the event and writing it into its place.
            self.posts.push_back(((due, seq), ev));
        } else {
            self.push_post_growing(((due, seq), ev));
        }
    }

    #[cold]
    #[inline(never)]
    fn push_post_growing(&mut self, item: (Key, Event)) {
        self.posts.push_back(item);
    }

    #[inline]
    pub fn push_timer(&mut self, due: i64, wall: f64, ev: Event) -> AlarmId {
        let tie = self.next_tie();
        let seq = self.next_seq();
        let kind = match ev.kind {
            Kind::StateTimer(_) => Kind::StateTimer(seq),
            _ => Kind::Timer(seq),
        };
        let slot = self.slots.insert(Slot {
            key: (due, seq),
            tie,
            timer: Timer {
                ev: Event { kind, ..ev },
                wall,
            },
        });
        let entry = Entry::new(due, tie, slot);
        let top_stale = self
            .order
            .peek()
            .is_some_and(|top| Self::live_key(&self.slots, top).is_none());
        // The top's timer is gone (typically just removed, to be set
        // again): the new entry takes its place, which costs a sift down
        // that usually stops at once, not a pop and a push.
        if top_stale && self.order.replace_top(entry) {
            self.stale -= 1;
        } else {
            self.order.push(entry);
        }
        AlarmId::new(seq, slot)
    }

    /// The slot of the queued timer `id`, if it is queued: where the id
    /// says (slots do not move while their timer is queued), or, for an id
    /// made from its number, wherever the number is found.
    #[inline]
    fn slot_of(&self, id: AlarmId) -> Option<usize> {
        let names = |s: &Slot| s.timer.ev.kind.alarm() == Some(id.seq);
        if id.slot != NO_SLOT {
            let slot = id.slot as usize;
            return self.slots.get(slot).filter(|s| names(s)).map(|_| slot);
        }
        self.slots
            .iter()
            .find(|(_, s)| names(s))
            .map(|(slot, _)| slot)
    }

    /// The tie for a new heap entry. Ties order timers with the same due
    /// time as they were set or moved, as their sequence numbers do, in 32
    /// bits (so that an entry is 16 bytes: see `timer_heap`); before the
    /// counter wraps, the timers are renumbered from 0 in queue order.
    #[inline]
    fn next_tie(&mut self) -> u32 {
        if self.next_tie == u32::MAX {
            self.renumber();
        }
        let tie = self.next_tie;
        self.next_tie += 1;
        tie
    }

    /// Gives the queued timers ties 0, 1, ... in queue order and rebuilds
    /// the heap from them, stale entries dropped: ties are again unique
    /// and in the order of the timers' keys.
    #[cold]
    #[inline(never)]
    fn renumber(&mut self) {
        let mut live: Vec<(Key, usize)> = self.slots.iter().map(|(i, s)| (s.key, i)).collect();
        live.sort_unstable();
        for (tie, &(_, slot)) in live.iter().enumerate() {
            self.slots[slot].tie = tie as u32;
        }
        self.order.rebuild(
            live.iter()
                .enumerate()
                .map(|(tie, &((due, _), slot))| Entry::new(due, tie as u32, slot)),
        );
        self.stale = 0;
        self.next_tie = live.len() as u32;
    }

    /// The key of a heap entry's timer, if the entry is still its timer's
    /// (not removed or moved): ties are unique among the heap's entries,
    /// and a slot keeps the tie of its timer's current entry.
    #[inline]
    fn live_key(slots: &Slab<Slot>, e: &Entry) -> Option<Key> {
        slots
            .get(e.slot())
            .filter(|s| s.tie == e.tie())
            .map(|s| s.key)
    }

    /// Drops stale entries off the top of the heap, so that its top is a
    /// queued timer, and returns that timer's key (one look at its slot).
    /// Removals leave the top for this (or for the next `push_timer`), so
    /// that re-arming a timeout does not pop the heap.
    #[inline]
    fn settle(&mut self) -> Option<Key> {
        while let Some(top) = self.order.peek() {
            if let Some(key) = Self::live_key(&self.slots, top) {
                return Some(key);
            }
            self.order.pop();
            self.stale -= 1;
        }
        None
    }

    /// Rebuilds the heap when stale entries outnumber live ones; empties
    /// it when no timer is left.
    fn bound_stale(&mut self) {
        if self.slots.is_empty() {
            self.order.clear();
            self.stale = 0;
        } else if self.stale > STALE_SLACK && self.stale > self.slots.len() {
            self.order.rebuild(
                self.slots
                    .iter()
                    .map(|(slot, s)| Entry::new(s.key.0, s.tie, slot)),
            );
            self.stale = 0;
        }
    }

    /// Moves a timer to a new due time, after the timers already due then
    /// (POE re-inserts adjusted items after equals); its id stays.
    pub fn move_alarm(&mut self, id: AlarmId, due: i64, wall: f64) -> bool {
        let Some(slot) = self.slot_of(id) else {
            return false;
        };
        let seq = self.next_seq();
        let tie = self.next_tie();
        let Some(s) = self.slots.get_mut(slot) else {
            return false;
        };
        s.timer.wall = wall;
        s.key = (due, seq);
        s.tie = tie;
        self.order.push(Entry::new(due, tie, slot));
        self.stale += 1;
        self.bound_stale();
        true
    }

    /// A queued timer's key and record.
    pub fn alarm(&self, id: AlarmId) -> Option<(Key, &Timer)> {
        let slot = self.slot_of(id)?;
        self.slots.get(slot).map(|s| (s.key, &s.timer))
    }

    /// The key of the earliest timer: the heap's top, or, if a removal
    /// left a stale top, a scan of the timers (only `&self` callers pay
    /// it; the kernel's loop uses [`head`](Self::head), which settles).
    fn first_timer(&self) -> Option<Key> {
        let top = self.order.peek()?;
        Self::live_key(&self.slots, top).or_else(|| self.slots.iter().map(|(_, s)| s.key).min())
    }

    /// The due time of the earliest timer.
    pub fn next_timer(&self) -> Option<i64> {
        self.first_timer().map(|(due, _)| due)
    }

    /// [`next_timer`](Self::next_timer) for the kernel's loop: settles the
    /// heap first, so it never scans.
    pub fn next_timer_settled(&mut self) -> Option<i64> {
        self.settle().map(|(due, _)| due)
    }

    #[inline]
    pub fn has_timers(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Drops everything queued; sequence numbers keep counting.
    pub fn clear(&mut self) {
        self.posts.clear();
        self.order.clear();
        self.slots.clear();
        self.stale = 0;
        self.holds.clear();
        self.dead_holds = 0;
    }

    /// How many events are queued (POE's `get_event_count`: a new
    /// session's hold counts, as POE's `_garbage_collect` event does).
    #[inline]
    pub fn len(&self) -> usize {
        self.posts.len() + self.slots.len() + self.holds.len() - self.dead_holds
    }

    /// Whether new sessions' holds are queued (live or not).
    #[inline]
    pub fn has_holds(&self) -> bool {
        !self.holds.is_empty()
    }

    /// Whether a post or a live hold is queued (unlike
    /// [`has_posts`](Self::has_posts), holds of sessions gone do not count).
    #[inline]
    pub fn has_live_posts(&self) -> bool {
        !self.posts.is_empty() || self.holds.len() > self.dead_holds
    }

    /// Whether a post (or a hold) is queued: those are always due.
    #[inline]
    pub fn has_posts(&self) -> bool {
        !self.posts.is_empty() || !self.holds.is_empty()
    }

    /// Holds new session `sid` until its turn, stamped as a post would be.
    #[inline]
    pub fn push_hold(&mut self, due: i64, sid: SessionId) {
        let seq = self.next_seq();
        self.holds.push_back(((due, seq), sid));
    }

    /// Pops the first hold.
    #[inline]
    pub fn pop_hold(&mut self) -> Option<SessionId> {
        self.holds.pop_front().map(|(_, sid)| sid)
    }

    /// A held session stopped before its hold's turn: the hold stays in
    /// place and no longer counts.
    pub fn hold_abandoned(&mut self) {
        self.dead_holds += 1;
    }

    /// A popped hold belonged to a session that had stopped.
    pub fn abandoned_hold_popped(&mut self) {
        self.dead_holds = self.dead_holds.saturating_sub(1);
    }

    /// The key of the first post or hold, and which it is.
    #[inline]
    fn first_post(&self) -> Option<(Key, Due)> {
        let p = self.posts.front().map(|(k, _)| (*k, Due::Post));
        match self.holds.front() {
            Some((h, _)) if p.map_or(true, |(k, _)| *h < k) => Some((*h, Due::Hold)),
            _ => p,
        }
    }

    /// The key of the head item.
    pub fn head(&mut self) -> Option<Key> {
        let t = self.settle();
        let p = self.first_post().map(|(k, _)| k);
        match (p, t) {
            (Some(p), Some(t)) => Some(p.min(t)),
            (p, t) => p.or(t),
        }
    }

    /// Whether the head sorts before `limit`, and which kind it is (so
    /// that the loop can pop it with [`pop_post`](Self::pop_post),
    /// [`pop_timer`](Self::pop_timer) or [`pop_hold`](Self::pop_hold),
    /// without wrapping it again).
    #[inline]
    pub fn due_before(&mut self, limit: Key) -> Option<Due> {
        if self.slots.is_empty() && self.holds.is_empty() {
            // The common case: posts only, already in order.
            return match self.posts.front() {
                Some((k, _)) if *k < limit => Some(Due::Post),
                _ => None,
            };
        }
        self.merged_due_before(limit)
    }

    /// [`due_before`](Self::due_before) with timers or holds queued: the
    /// three heads merged. Out of line, so that the posts-only loop stays
    /// small.
    #[inline(never)]
    fn merged_due_before(&mut self, limit: Key) -> Option<Due> {
        let t = self.settle();
        let p = self.first_post();
        match (p, t) {
            (Some((p, due)), Some(t)) if p < t => (p < limit).then_some(due),
            (_, Some(t)) => (t < limit).then_some(Due::Timer),
            (Some((p, due)), None) => (p < limit).then_some(due),
            (None, None) => None,
        }
    }

    /// Pops the first post, with its key.
    #[inline]
    pub fn pop_post(&mut self) -> Option<(Key, Event)> {
        self.posts.pop_front()
    }

    /// Pops the earliest timer (the heap is settled by `due_before`).
    #[inline]
    pub fn pop_timer(&mut self) -> Option<Event> {
        let top = self.order.pop()?;
        if let Some(next) = self.order.peek() {
            // The next timer's record is read now, so that its miss (timers
            // fire far from where they were set) is under way while this
            // one is dispatched.
            std::hint::black_box(
                self.slots
                    .get(next.slot())
                    .map(|s| (s.tie, s.timer.ev.dest, s.timer.ev.kind)),
            );
        }
        Some(self.slots.remove(top.slot()).timer.ev)
    }

    /// Pops the head if it sorts before `limit` (what the kernel's loop
    /// does with [`due_before`](Self::due_before) and the two pops).
    #[cfg(test)]
    pub fn pop_before(&mut self, limit: Key) -> Option<Event> {
        match self.due_before(limit)? {
            Due::Post => self.pop_post().map(|(_, ev)| ev),
            Due::Timer => self.pop_timer(),
            Due::Hold => {
                self.pop_hold();
                self.pop_before(limit)
            }
        }
    }

    /// Removes a timer by id if `owns` accepts its event: `Ok` with the
    /// timer, `Err(true)` if `owns` refused it, `Err(false)` if there is no
    /// such timer. One lookup of the id, for `alarm_remove`.
    #[inline]
    pub fn remove_alarm_if(
        &mut self,
        id: AlarmId,
        owns: impl FnOnce(&Event) -> bool,
    ) -> Result<Timer, bool> {
        let Some(slot) = self.slot_of(id) else {
            return Err(false);
        };
        if !owns(&self.slots[slot].timer.ev) {
            return Err(true);
        }
        let s = self.slots.remove(slot);
        self.stale += 1;
        self.bound_stale();
        Ok(s.timer)
    }

    /// Removes a timer by id.
    pub fn remove_alarm(&mut self, id: AlarmId) -> Option<Timer> {
        self.remove_alarm_if(id, |_| true).ok()
    }

    /// The timer's event name, if it is queued.
    pub fn alarm_name(&self, id: AlarmId) -> Option<&EventName> {
        self.alarm(id).map(|(_, t)| &t.ev.name)
    }

    /// The timer's destination, if it is queued.
    pub fn alarm_owner(&self, id: AlarmId) -> Option<SessionId> {
        self.alarm(id).map(|(_, t)| t.ev.dest)
    }

    /// Removes every queued event to or from session `sid`, returning
    /// them: posts in queue order, then timers in the order they would have
    /// fired. `alarms` are the session's timer ids (its
    /// [`SessionAlarms`](super::timers::SessionAlarms)): every timer is set
    /// by a session for itself and listed by it, so its timers are found
    /// through its own list, ids that no longer name one of them skipped,
    /// instead of by looking at every queued timer (which made stopping N
    /// sessions with a timer each quadratic in N).
    pub fn remove_session(
        &mut self,
        sid: SessionId,
        alarms: impl Iterator<Item = AlarmId>,
    ) -> Vec<Event> {
        let mine = |e: &Event| e.dest == sid || e.source == sid;
        let mut removed = Vec::new();
        if self.posts.iter().any(|(_, e)| mine(e)) {
            let mut kept = VecDeque::with_capacity(self.posts.len());
            for (k, e) in self.posts.drain(..) {
                if mine(&e) {
                    removed.push(e);
                } else {
                    kept.push_back((k, e));
                }
            }
            self.posts = kept;
        }
        // In queue order, as they would have fired.
        let mut doomed: Vec<(Key, usize)> = alarms
            .filter_map(|id| self.slot_of(id))
            .filter(|&slot| mine(&self.slots[slot].timer.ev))
            .map(|slot| (self.slots[slot].key, slot))
            .collect();
        doomed.sort_unstable();
        doomed.dedup();
        for (_, slot) in doomed {
            let s = self.slots.remove(slot);
            self.stale += 1;
            removed.push(s.timer.ev);
        }
        self.bound_stale();
        removed
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn timer_event() -> Event {
        Event {
            dest: SessionId::new(1, 0),
            source: SessionId::new(1, 0),
            name: EventName::from_static("t"),
            args: Args::new(),
            kind: Kind::Timer(0),
            caller_state: None,
        }
    }

    /// The heap with lazy deletion fires timers in exactly the order of a
    /// sorted map keyed by (due, seq), through random sets, moves and
    /// removals; stale heap entries stay bounded.
    #[test]
    fn timers_fire_in_key_order_through_moves_and_removals() {
        fire_in_key_order_from_tie(0);
    }

    /// The same with the 32-bit tie counter starting just before it wraps:
    /// the timers are renumbered on the way (without it the counter
    /// overflows), and order holds through stale entries and moves.
    #[test]
    fn timers_keep_their_order_when_the_ties_are_renumbered() {
        let tie = fire_in_key_order_from_tie(u32::MAX - 3_000);
        assert!(tie < 10_000, "the ties were renumbered from 0");
    }

    /// Timers due at the same time fire in the order they were set (POE's
    /// order for equal priorities) when the tie counter wraps among them;
    /// a removed timer's stale entry does not survive the renumbering.
    #[test]
    fn equal_due_times_keep_their_order_across_a_renumbering() {
        let mut q = Queue {
            next_tie: u32::MAX - 3,
            ..Queue::default()
        };
        let mut ids: Vec<AlarmId> = (0..8)
            .map(|_| q.push_timer(100, 0.0, timer_event()))
            .collect();
        assert_eq!(q.next_tie, 8, "the counter was renumbered");
        let gone = ids.remove(2);
        assert!(q.remove_alarm(gone).is_some());
        let moved = ids.remove(3);
        assert!(q.move_alarm(moved, 100, 0.0), "moved after its equals");
        ids.push(moved);
        let fired: Vec<u64> = std::iter::from_fn(|| q.pop_before((i64::MAX, u64::MAX)))
            .map(|ev| ev.kind.alarm().unwrap())
            .collect();
        assert_eq!(fired, ids.iter().map(AlarmId::id).collect::<Vec<_>>());
    }

    /// Random sets, moves, removals and fires against a model; returns the
    /// tie counter at the end.
    fn fire_in_key_order_from_tie(first_tie: u32) -> u32 {
        let mut q = Queue {
            next_tie: first_tie,
            ..Queue::default()
        };
        let mut model: BTreeMap<Key, AlarmId> = BTreeMap::new();
        let mut ids: Vec<AlarmId> = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rand = |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        let key_of = |q: &Queue, id: AlarmId| q.alarm(id).map(|(k, _)| k);
        for step in 0..20_000u64 {
            match rand(10) {
                0..=3 => {
                    let due = rand(1000) as i64;
                    let id = q.push_timer(due, 0.0, timer_event());
                    model.insert(key_of(&q, id).unwrap(), id);
                    ids.push(id);
                }
                4..=5 if !ids.is_empty() => {
                    let id = ids[rand(ids.len() as u64) as usize];
                    if let Some(old) = key_of(&q, id) {
                        assert!(q.move_alarm(id, rand(1000) as i64, 0.0));
                        model.remove(&old);
                        model.insert(key_of(&q, id).unwrap(), id);
                    }
                }
                6 if !ids.is_empty() => {
                    let id = ids.swap_remove(rand(ids.len() as u64) as usize);
                    let old = key_of(&q, id);
                    assert_eq!(q.remove_alarm(id).is_some(), old.is_some());
                    if let Some(old) = old {
                        model.remove(&old);
                    }
                }
                7 => {
                    // Fire everything due by a random time.
                    let limit = (rand(1000) as i64, u64::MAX);
                    while let Some(ev) = q.pop_before(limit) {
                        let (k, id) = model.pop_first().unwrap();
                        assert!(k < limit, "step {step}");
                        assert_eq!(ev.kind.alarm(), Some(id.id()), "step {step}");
                    }
                    assert!(model.first_key_value().map_or(true, |(k, _)| *k >= limit));
                }
                _ => {}
            }
            assert_eq!(q.len(), model.len());
            // Both ways of finding the earliest timer: without settling
            // (a scan when a removal left a stale top) and settling.
            let first = model.keys().next().copied();
            assert_eq!(q.next_timer(), first.map(|k| k.0));
            if step % 3 == 0 {
                assert_eq!(q.head(), first);
                assert_eq!(q.next_timer_settled(), first.map(|k| k.0));
            }
            assert!(q.order.len() <= 2 * q.slots.len() + STALE_SLACK + 1);
        }
        // Everything left fires in order.
        while let Some(ev) = q.pop_before((i64::MAX, u64::MAX)) {
            let (_, id) = model.pop_first().unwrap();
            assert_eq!(ev.kind.alarm(), Some(id.id()));
        }
        assert!(model.is_empty());
        q.next_tie
    }

    /// Re-arming a timer 100,000 times keeps the heap small, whether the
    /// stale entries surface at once (moved later) or sink below the live
    /// one (moved earlier, so only a rebuild drops them).
    #[test]
    fn rearming_one_timer_does_not_grow_the_heap() {
        let mut q = Queue::default();
        let id = q.push_timer(10, 0.0, timer_event());
        for i in 0..100_000 {
            assert!(q.move_alarm(id, 10 + i, 0.0));
        }
        assert!(q.order.len() <= STALE_SLACK + 2);
        for i in 0..100_000 {
            assert!(q.move_alarm(id, 1_000_000 - i, 0.0));
        }
        assert!(q.order.len() <= STALE_SLACK + 2);
        assert_eq!(q.len(), 1);
    }

    /// The usual re-arm, `alarm_remove` then `delay_set`, with other
    /// timers pending: the new entry takes the removed one's place at the
    /// top, so the heap does not grow at all, and order holds.
    #[test]
    fn remove_then_set_reuses_the_top() {
        let mut q = Queue::default();
        for i in 0..100 {
            q.push_timer(1_000 + i, 0.0, timer_event());
        }
        let mut id = q.push_timer(10, 0.0, timer_event());
        for i in 0..10_000 {
            assert!(q.remove_alarm(id).is_some());
            id = q.push_timer(10 + i % 7, 0.0, timer_event());
            assert_eq!(q.order.len(), 101);
        }
        assert_eq!(q.next_timer(), Some(10 + 9_999 % 7));
        let first = q.pop_before((i64::MAX, u64::MAX)).unwrap();
        assert_eq!(first.kind.alarm(), Some(id.id()));
        let mut last = 0;
        while let Some(ev) = q.pop_before((i64::MAX, u64::MAX)) {
            let n = ev.kind.alarm().unwrap();
            assert!(n > last);
            last = n;
        }
        assert_eq!(q.len(), 0);
    }

    /// Alarm ids find their timer through the slot they remember: an id
    /// whose timer is gone names nothing even after a new timer takes its
    /// slot (POE: ESRCH, and the new timer is untouched); an id made from
    /// its number alone still finds its timer; ids compare by number.
    #[test]
    fn alarm_ids_find_their_timer_and_only_theirs() {
        let mut q = Queue::default();
        let old = q.push_timer(10, 0.0, timer_event());
        assert!(q.remove_alarm(old).is_some());
        let new = q.push_timer(20, 0.0, timer_event());
        assert_eq!(new.slot, old.slot, "the slot is reused");
        assert!(q.alarm(old).is_none());
        assert!(q.remove_alarm(old).is_none());
        assert!(!q.move_alarm(old, 5, 0.0));
        assert_eq!(q.alarm(new).map(|(k, _)| k.0), Some(20));

        let by_number = AlarmId::from_id(new.id());
        assert_eq!(by_number, new);
        assert!(q.move_alarm(by_number, 30, 0.0));
        assert_eq!(q.alarm(new).map(|(k, _)| k.0), Some(30));
        assert!(q.alarm(AlarmId::from_id(old.id())).is_none());
        assert!(q.remove_alarm(by_number).is_some());
        assert!(q.alarm(new).is_none());
        assert_eq!(q.len(), 0);
    }
}
