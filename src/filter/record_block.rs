//! `RecordBlock` (POE::Filter::RecordBlock): groups records into blocks.

use super::{Filter, FilterError};
use crate::Value;

/// On input, groups every `block_size` records into one `Value::List`; the
/// remainder stays pending. On output, flattens lists into records; with
/// `check_put`, only whole blocks go out and the rest waits in
/// [`put_pending`](Self::put_pending). No limit (as POE's).
///
/// ```
/// use rpoe::filter::{Filter, RecordBlock};
/// use rpoe::Value;
/// let mut rb = RecordBlock::new(2).unwrap();
/// let got = rb.get(vec![1.into(), 2.into(), 3.into()]).unwrap();
/// assert_eq!(got, [Value::List(vec![1.into(), 2.into()])]);
/// ```
#[derive(Debug, Clone)]
pub struct RecordBlock {
    block_size: usize,
    check_put: bool,
    pending: Vec<Value>,
    put_pending: Vec<Value>,
}

impl RecordBlock {
    /// Blocks of `block_size` records (POE's `BlockSize`).
    ///
    /// # Errors
    /// [`FilterError::Config`] for 0 (POE croaks).
    pub fn new(block_size: usize) -> Result<Self, FilterError> {
        if block_size == 0 {
            return Err(FilterError::Config("block_size must be positive"));
        }
        Ok(RecordBlock {
            block_size,
            check_put: false,
            pending: Vec::new(),
            put_pending: Vec::new(),
        })
    }

    /// Only whole blocks are put (POE's `CheckPut`).
    pub fn check_put(mut self, on: bool) -> Self {
        self.check_put = on;
        self
    }

    /// The block size (POE's `blocksize()`).
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Records held back by `check_put` (POE's `put_pending`).
    pub fn put_pending(&self) -> &[Value] {
        &self.put_pending
    }
}

impl Filter for RecordBlock {
    fn get_one_start(&mut self, chunks: Vec<Value>) -> Result<(), FilterError> {
        self.pending.extend(chunks);
        Ok(())
    }

    fn get_one(&mut self) -> Result<Option<Value>, FilterError> {
        if self.pending.len() < self.block_size {
            return Ok(None);
        }
        let block: Vec<Value> = self.pending.drain(..self.block_size).collect();
        Ok(Some(Value::List(block)))
    }

    fn put(&mut self, records: Vec<Value>) -> Result<Vec<Value>, FilterError> {
        let mut flat = std::mem::take(&mut self.put_pending);
        for r in records {
            match r {
                Value::List(items) => flat.extend(items),
                other => flat.push(other),
            }
        }
        if self.check_put {
            let whole = flat.len() - flat.len() % self.block_size;
            self.put_pending = flat.split_off(whole);
        }
        Ok(flat)
    }

    fn get_pending(&self) -> Option<Vec<Value>> {
        (!self.pending.is_empty()).then(|| self.pending.clone())
    }

    fn fresh(&self) -> Box<dyn Filter> {
        let mut f = self.clone();
        f.pending.clear();
        f.put_pending.clear();
        Box::new(f)
    }
}
