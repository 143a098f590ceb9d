//! `Stream` (POE::Filter::Stream): no framing; whatever arrived is a record.

use super::{record_bytes, start_bytes, Filter, FilterError};
use crate::Value;

/// Passes data through: `get` returns everything buffered as one record,
/// `put` passes each record through as a chunk. No limit (as POE's).
///
/// ```
/// use rpoe::filter::{Filter, Stream};
/// use rpoe::Value;
/// let mut s = Stream::new();
/// let got = s.get(vec!["ab".into(), "cd".into()]).unwrap();
/// assert_eq!(got, [Value::Bytes(b"abcd".to_vec())]);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Stream {
    buffer: Vec<u8>,
}

impl Stream {
    /// An empty stream filter.
    pub fn new() -> Self {
        Stream::default()
    }
}

impl Filter for Stream {
    fn get_one_start(&mut self, chunks: Vec<Value>) -> Result<(), FilterError> {
        start_bytes(self, &chunks)
    }

    fn get_one_start_bytes(&mut self, bytes: &[u8]) -> Result<(), FilterError> {
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    fn get_one(&mut self) -> Result<Option<Value>, FilterError> {
        if self.buffer.is_empty() {
            return Ok(None);
        }
        Ok(Some(Value::Bytes(std::mem::take(&mut self.buffer))))
    }

    fn put_one_owned(&mut self, record: Value) -> Result<Vec<u8>, FilterError> {
        super::into_record_bytes(record)
    }

    fn put_one_bytes(&mut self, record: Value, out: &mut Vec<u8>) -> Result<(), FilterError> {
        out.extend_from_slice(super::record_bytes(&record)?);
        Ok(())
    }

    fn record_terminator(&self) -> Option<&[u8]> {
        Some(&[])
    }

    fn put(&mut self, records: Vec<Value>) -> Result<Vec<Value>, FilterError> {
        records
            .into_iter()
            .map(|r| record_bytes(&r).map(|b| Value::Bytes(b.to_vec())))
            .collect()
    }

    fn get_pending(&self) -> Option<Vec<Value>> {
        (!self.buffer.is_empty()).then(|| vec![Value::Bytes(self.buffer.clone())])
    }

    fn fresh(&self) -> Box<dyn Filter> {
        Box::new(Stream::new())
    }
}
