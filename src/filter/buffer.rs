//! `Buffer`: the framing buffer the byte filters share: a byte vector with
//! a consumed prefix, compacted as data is appended, and a size limit.

use super::FilterError;
use crate::Value;

/// Capacity an emptied buffer may keep.
const KEEP_CAPACITY: usize = 256 * 1024;

#[derive(Debug, Clone, Default)]
pub(crate) struct Buffer {
    /// Storage: `bytes[start..end]` is the unconsumed data; `bytes[end..]`
    /// is initialised room that input can be read into directly.
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl Buffer {
    /// Appends `data`; if the unconsumed total would pass `max`, drops
    /// everything instead and reports [`FilterError::BufferFull`].
    pub fn append(&mut self, data: &[u8], max: usize) -> Result<(), FilterError> {
        if self.len() + data.len() > max {
            self.clear();
            return Err(FilterError::BufferFull { max });
        }
        self.reclaim();
        let need = self.end + data.len();
        if need <= self.bytes.len() {
            self.bytes[self.end..need].copy_from_slice(data);
        } else {
            self.bytes.truncate(self.end);
            self.bytes.extend_from_slice(data);
        }
        self.end = need;
        Ok(())
    }

    /// Reclaims the consumed prefix once it is half the data's end: each
    /// byte is moved at most once per halving, so appends stay amortised
    /// O(1).
    fn reclaim(&mut self) {
        if self.start > 0 && self.start * 2 >= self.end {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Room after the data for reading into directly (saving the copy from
    /// a shared read buffer), if at least `min` bytes are free there
    /// already: the buffer never grows for it, so a connection holds no
    /// more memory than its data has needed. Follow with
    /// [`commit`](Self::commit).
    pub fn room(&mut self, min: usize) -> Option<&mut [u8]> {
        self.reclaim();
        let end = self.end;
        (self.bytes.len() - end >= min).then(|| &mut self.bytes[end..])
    }

    /// Takes `n` bytes written into [`room`](Self::room) as data; past
    /// `max` unconsumed bytes, drops everything as `append` does.
    pub fn commit(&mut self, n: usize, max: usize) -> Result<(), FilterError> {
        self.end = (self.end + n).min(self.bytes.len());
        if self.len() > max {
            self.clear();
            return Err(FilterError::BufferFull { max });
        }
        Ok(())
    }

    /// The unconsumed bytes.
    pub fn data(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// How many unconsumed bytes there are.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks `n` bytes as consumed. An emptied buffer is reset, and gives
    /// back memory beyond a small reserve (an idle connection keeps little).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.clear();
            if self.bytes.capacity() > KEEP_CAPACITY {
                self.bytes.truncate(KEEP_CAPACITY);
                self.bytes.shrink_to(KEEP_CAPACITY);
            }
        }
    }

    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// POE's `get_pending`: the unconsumed bytes, or `None`.
    pub fn pending(&self) -> Option<Vec<Value>> {
        (!self.is_empty()).then(|| vec![Value::Bytes(self.data().to_vec())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends, direct reads into the room and consumption keep the data
    /// exactly what was put in, in order, and the room never grows the
    /// buffer.
    #[test]
    fn appends_reads_and_consumes_agree_with_a_plain_vec() {
        let mut b = Buffer::default();
        let mut model: Vec<u8> = Vec::new();
        let mut next = 0u8;
        let mut fill = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect()
        };
        for round in 0..2000usize {
            let n = (round * 37) % 300;
            match round % 3 {
                0 => {
                    let data = fill(n);
                    b.append(&data, usize::MAX).unwrap();
                    model.extend_from_slice(&data);
                }
                1 => {
                    let cap = b.bytes.len();
                    if let Some(room) = b.room(1) {
                        let k = room.len().min(n);
                        let data = fill(k);
                        room[..k].copy_from_slice(&data);
                        b.commit(k, usize::MAX).unwrap();
                        model.extend_from_slice(&data);
                    }
                    assert_eq!(b.bytes.len(), cap, "room grew the buffer");
                }
                _ => {
                    let k = n.min(model.len());
                    b.consume(k);
                    model.drain(..k);
                }
            }
            assert_eq!(b.data(), &model[..], "round {round}");
        }
    }

    /// A direct read that passes the limit empties the buffer, as an
    /// append does.
    #[test]
    fn commit_past_the_limit_is_buffer_full() {
        let mut b = Buffer::default();
        b.append(&[1; 100], 1000).unwrap();
        b.consume(100);
        let room = b.room(50).unwrap();
        room[..60].fill(7);
        assert!(b.commit(60, 50).is_err());
        assert!(b.is_empty());
    }
}
