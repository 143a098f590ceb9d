//! `Buffer`: the framing buffer the byte filters share: a byte vector with
//! a consumed prefix, compacted as data is appended, and a size limit.

use super::FilterError;
use crate::Value;

/// Capacity an emptied buffer may keep.
const KEEP_CAPACITY: usize = 256 * 1024;

#[derive(Debug, Clone, Default)]
pub(crate) struct Buffer {
    bytes: Vec<u8>,
    /// Consumed prefix of `bytes`.
    start: usize,
}

impl Buffer {
    /// Appends `data`; if the unconsumed total would pass `max`, drops
    /// everything instead and reports [`FilterError::BufferFull`].
    pub fn append(&mut self, data: &[u8], max: usize) -> Result<(), FilterError> {
        if self.len() + data.len() > max {
            self.clear();
            return Err(FilterError::BufferFull { max });
        }
        // Reclaim the consumed prefix once it is half the buffer: each byte
        // is moved at most once per halving, so appends stay amortised O(1).
        if self.start > 0 && self.start * 2 >= self.bytes.len() {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(data);
        Ok(())
    }

    /// The unconsumed bytes.
    pub fn data(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// How many unconsumed bytes there are.
    pub fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks `n` bytes as consumed. An emptied buffer is reset, and gives
    /// back memory beyond a small reserve (an idle connection keeps little).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.bytes.len());
        if self.start == self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
            if self.bytes.capacity() > KEEP_CAPACITY {
                self.bytes.shrink_to(KEEP_CAPACITY);
            }
        }
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.start = 0;
    }

    /// POE's `get_pending`: the unconsumed bytes, or `None`.
    pub fn pending(&self) -> Option<Vec<Value>> {
        (!self.is_empty()).then(|| vec![Value::Bytes(self.data().to_vec())])
    }
}
