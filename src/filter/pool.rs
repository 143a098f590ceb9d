//! A per-thread pool of record buffers.
//!
//! An echo-like program turns every input line into a record (`Vec<u8>`)
//! that lives for one handler: the line filter allocates it, the handler
//! `put`s it, and ReadWrite copies it into its output buffer (records
//! under 2 KiB) or writes it as it is (bigger ones), and is then done with
//! it. Handing the emptied buffer back here and giving it to the next
//! record saves a `malloc` and a `free` per line (about 150 instructions
//! of 1,300 per echoed 64-byte line).
//!
//! Buffers are kept by size class (powers of two from 64 bytes to 64 KiB,
//! at most 256 KiB and at most 32 buffers per class), so a record never
//! gets a buffer more than its size rounded up to a power of two; bigger
//! records are allocated as before. A record the program keeps simply
//! keeps its buffer.

use std::cell::RefCell;

/// The smallest class: 2^6 = 64 bytes.
const MIN_SHIFT: u32 = 6;
/// The largest class: 2^16 = 64 KiB (a default read block).
const MAX_SHIFT: u32 = 16;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
/// Buffers kept per class: at most 32, and at most 256 KiB in all.
const PER_CLASS: usize = 32;
const BYTES_PER_CLASS: usize = 256 * 1024;

/// How many buffers class `class` keeps (32 up to 8 KiB, 4 of 64 KiB).
const fn limit(class: usize) -> usize {
    let n = BYTES_PER_CLASS >> (class as u32 + MIN_SHIFT);
    if n > PER_CLASS {
        PER_CLASS
    } else {
        n
    }
}

thread_local! {
    static POOL: RefCell<[Vec<Vec<u8>>; CLASSES]> =
        const { RefCell::new([const { Vec::new() }; CLASSES]) };
}

/// An empty buffer with room for at least `capacity` bytes: a pooled one
/// of the right class if there is one.
#[inline]
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    if capacity > 1 << MAX_SHIFT {
        return Vec::with_capacity(capacity);
    }
    let shift = capacity
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
        .max(MIN_SHIFT);
    let class = (shift - MIN_SHIFT) as usize;
    POOL.try_with(|p| p.borrow_mut()[class].pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(1 << shift))
}

/// Gives a buffer back for a later [`take`] (dropped if it is too small,
/// too big, or its class is full).
#[inline]
pub(crate) fn give(mut buf: Vec<u8>) {
    let cap = buf.capacity();
    if !(1 << MIN_SHIFT..2 << MAX_SHIFT).contains(&cap) {
        return;
    }
    // The class whose every take this buffer can serve.
    let class = (usize::BITS - 1 - cap.leading_zeros() - MIN_SHIFT) as usize;
    buf.clear();
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p[class].len() < limit(class) {
            p[class].push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer comes back only to a take it can serve: at least the room
    /// asked for, at most twice its power of two.
    #[test]
    fn buffers_go_to_takes_they_fit() {
        for want in [1, 63, 64, 65, 100, 128, 1000, 2047, 2048] {
            let mut got = take(want);
            assert!(got.capacity() >= want, "{want}");
            assert!(got.capacity() <= want.next_power_of_two().max(64), "{want}");
            got.extend_from_slice(&vec![7u8; want]);
            give(got);
            let again = take(want);
            assert!(again.is_empty(), "pooled buffers come back empty");
            assert!(again.capacity() >= want, "{want}");
        }
        // A buffer of 100 bytes' capacity serves takes of up to 64.
        give(Vec::with_capacity(100));
        assert!(take(64).capacity() >= 64);
        // Records up to 64 KiB are pooled; bigger ones are not.
        let mid = take(5000);
        assert_eq!(mid.capacity(), 8192);
        give(mid);
        assert_eq!(take(5000).capacity(), 8192);
        let big = take(100_000);
        assert!(big.capacity() >= 100_000);
        give(big);
        assert!(take(100_000).capacity() >= 100_000);
    }

    /// A class keeps at most PER_CLASS buffers and 256 KiB.
    #[test]
    fn classes_are_bounded() {
        for _ in 0..PER_CLASS * 3 {
            give(Vec::with_capacity(256));
            give(Vec::with_capacity(64 * 1024));
        }
        POOL.with(|p| {
            let p = p.borrow();
            assert_eq!(p[2].len(), PER_CLASS);
            assert_eq!(p[CLASSES - 1].len(), 4);
            for (class, bufs) in p.iter().enumerate() {
                let bytes: usize = bufs.iter().map(Vec::capacity).sum();
                assert!(bytes <= BYTES_PER_CLASS, "class {class}");
            }
        });
    }
}
