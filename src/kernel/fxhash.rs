//! A small, fast, non-cryptographic hasher for the kernel's own tables.
//!
//! Handler tables are looked up on every dispatch, keyed by short event
//! names the program itself chose; SipHash's protection against hash
//! flooding buys nothing there and costs about a third of a dispatch. This
//! is the Fx hash used by rustc (Firefox's), a few lines, so no dependency.

use std::hash::{BuildHasherDefault, Hasher};

/// The Fx hasher: multiply-rotate over machine words.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        // The last 1-7 bytes as one word, read as fixed-size pieces: a
        // variable-length copy into a buffer read back at once stalled
        // the pipeline (the load waits for the copy's byte stores), and
        // that was most of a handler lookup's time.
        let rest = chunks.remainder();
        let n = rest.len();
        if n >= 4 {
            let lo = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let hi = u32::from_le_bytes([rest[n - 4], rest[n - 3], rest[n - 2], rest[n - 1]]);
            self.add(u64::from(lo) | u64::from(hi) << 32);
        } else if n > 0 {
            let (a, b, c) = (rest[0], rest[n / 2], rest[n - 1]);
            self.add(u64::from(a) | u64::from(b) << 8 | u64::from(c) << 16);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i.into());
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `HashMap<K, V, FxBuild>`.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;
