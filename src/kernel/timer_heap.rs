//! The timers' order: a 4-ary min-heap of 16-byte entries.
//!
//! Firing a million timers set at random times is mostly the heap's pop,
//! and a pop is one cache miss per level once the heap outgrows the cache.
//! Four children per node halve the levels of a binary heap (a million
//! entries: 10 instead of 20), and 16-byte entries put a node's four
//! children in one 64-byte line, so a level costs one miss for the four
//! comparisons. std's `BinaryHeap` of the same entries took twice as long
//! per pop (`cargo bench --bench timers`, `fire_1M`).
//!
//! An entry is a due time, a *tie* and a slot. The tie orders timers with
//! the same due time by when they were set (POE's insertion order for
//! equal priorities); the queue draws ties from a 32-bit counter and
//! renumbers its timers before the counter wraps (see
//! `Queue::next_tie`), so ties are unique among the entries in the heap.

/// A timer's place in the order: its due time, then its tie, and the slot
/// where the queue keeps it (the low half of `tie_slot`, which never
/// decides: ties are unique).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The due time with its sign bit flipped: unsigned, same order.
    due_bits: u64,
    tie_slot: u64,
}

/// The sign bit of a due time.
const SIGN: u64 = 1 << 63;

impl Entry {
    /// The entry for the timer in `slot`, due at `due`, with tie `tie`.
    ///
    /// A slot number past `u32::MAX` cannot occur: the queue would hold
    /// four billion timers of about 190 bytes each first.
    #[inline]
    pub fn new(due: i64, tie: u32, slot: usize) -> Self {
        debug_assert!(u32::try_from(slot).is_ok());
        Entry {
            due_bits: due as u64 ^ SIGN,
            tie_slot: (u64::from(tie) << 32) | (slot as u64 & 0xffff_ffff),
        }
    }

    /// The due time, in kernel nanoseconds.
    #[cfg(test)]
    pub fn due(&self) -> i64 {
        (self.due_bits ^ SIGN) as i64
    }

    /// The tie: the order among timers with the same due time.
    #[inline]
    pub fn tie(&self) -> u32 {
        (self.tie_slot >> 32) as u32
    }

    /// The slot where the queue keeps this entry's timer.
    #[inline]
    pub fn slot(&self) -> usize {
        (self.tie_slot & 0xffff_ffff) as usize
    }

    /// The entry as one number, in the heap's order.
    #[inline(always)]
    fn rank(&self) -> u128 {
        (u128::from(self.due_bits) << 64) | u128::from(self.tie_slot)
    }

    /// Whether this entry comes before `other` (one 128-bit comparison,
    /// where comparing the fields one by one takes two branches).
    #[inline(always)]
    fn before(&self, other: &Entry) -> bool {
        self.rank() < other.rank()
    }
}

/// How many children a node has.
const ARITY: usize = 4;

/// A min-heap of entries, earliest at the top.
#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    v: Vec<Entry>,
}

impl TimerHeap {
    /// The earliest entry.
    #[inline]
    pub fn peek(&self) -> Option<&Entry> {
        self.v.first()
    }

    /// How many entries the heap holds (live and stale).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.v.len()
    }

    /// Drops every entry, keeping the storage.
    pub fn clear(&mut self) {
        self.v.clear();
    }

    /// Adds an entry.
    #[inline]
    pub fn push(&mut self, e: Entry) {
        self.v.push(e);
        self.sift_up(self.v.len() - 1);
    }

    /// Puts `e` in the top's place (the top is dropped); false if empty.
    #[inline]
    pub fn replace_top(&mut self, e: Entry) -> bool {
        if self.v.is_empty() {
            return false;
        }
        self.v[0] = e;
        self.sift_down(0);
        true
    }

    /// Removes and returns the earliest entry.
    #[inline]
    pub fn pop(&mut self) -> Option<Entry> {
        let last = self.v.pop()?;
        if self.v.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.v[0], last);
        self.sift_down(0);
        Some(top)
    }

    /// Replaces the entries with `entries`, in heap order.
    pub fn rebuild(&mut self, entries: impl Iterator<Item = Entry>) {
        self.v.clear();
        self.v.extend(entries);
        if self.v.len() > 1 {
            for i in (0..=(self.v.len() - 2) / ARITY).rev() {
                self.sift_down(i);
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        let e = self.v[i];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !e.before(&self.v[parent]) {
                break;
            }
            self.v[i] = self.v[parent];
            i = parent;
        }
        self.v[i] = e;
    }

    /// Moves the entry at `i` down to its place: at each level, the
    /// earliest child moves up while it comes before the entry.
    fn sift_down(&mut self, mut i: usize) {
        let len = self.v.len();
        let e = self.v[i];
        loop {
            let first = ARITY * i + 1;
            let child = if first + ARITY <= len {
                // All four children: compared in pairs. Their sixteen
                // children (four lines) are read first, so that the next
                // level's miss is under way while this one is decided.
                let grand = ARITY * first + 1;
                if grand + ARITY * ARITY <= len {
                    for k in 0..ARITY {
                        std::hint::black_box(self.v[grand + ARITY * k].due_bits);
                    }
                }
                let c = &self.v[first..first + ARITY];
                let a = if c[1].before(&c[0]) { 1 } else { 0 };
                let b = if c[3].before(&c[2]) { 3 } else { 2 };
                first + if c[b].before(&c[a]) { b } else { a }
            } else if first < len {
                let mut m = first;
                for j in first + 1..len {
                    if self.v[j].before(&self.v[m]) {
                        m = j;
                    }
                }
                m
            } else {
                break;
            };
            if !self.v[child].before(&e) {
                break;
            }
            self.v[i] = self.v[child];
            i = child;
        }
        self.v[i] = e;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pops come out in (due, tie) order whatever the pushes' order, with
    /// replace_top and rebuild keeping the order too.
    #[test]
    fn pops_in_due_then_tie_order() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rand = |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        let mut heap = TimerHeap::default();
        let mut model = Vec::new();
        for tie in 0..5_000u32 {
            let e = Entry::new(rand(300) as i64 - 100, tie, rand(1 << 20) as usize);
            model.push(e);
            match tie % 5 {
                0 if heap.len() > 0 => {
                    let top = *heap.peek().unwrap();
                    model.retain(|m| *m != top);
                    assert!(heap.replace_top(e));
                }
                _ => heap.push(e),
            }
            if tie == 2_500 {
                let all: Vec<Entry> = heap.v.clone();
                heap.rebuild(all.into_iter().rev());
            }
        }
        model.sort_by_key(|e| (e.due(), e.tie()));
        let popped: Vec<Entry> = std::iter::from_fn(|| heap.pop()).collect();
        assert_eq!(popped, model);
        assert!(!heap.replace_top(Entry::new(0, 0, 0)));
    }

    #[test]
    fn an_entry_keeps_its_tie_and_slot() {
        let e = Entry::new(-5, u32::MAX, 0xffff_fffe);
        assert_eq!((e.due(), e.tie(), e.slot()), (-5, u32::MAX, 0xffff_fffe));
        assert!(Entry::new(-5, 1, 9).before(&Entry::new(-5, 2, 0)));
        assert!(Entry::new(-6, 9, 9).before(&Entry::new(-5, 0, 0)));
    }
}
