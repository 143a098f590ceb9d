//! Filters (POE::Filter::*): turn raw chunks into records and records into
//! raw chunks, with POE's API: `get_one_start`, `get_one`, `get`, `put`,
//! `get_pending`, and a fresh copy per connection (`fresh`, POE's `clone`).
//!
//! Records and chunks are [`Value`]s, so filters compose at run time as POE's
//! do (a stack feeds one filter's records to the next as its chunks). The
//! byte filters ([`Line`], [`Stream`], [`Block`]) take `Value::Bytes` or `Value::Str`
//! chunks and give `Value::Bytes` records; [`Value::as_utf8`] is the string
//! view, which never panics on invalid UTF-8. Wheels use the byte fast paths
//! ([`Filter::get_one_start_bytes`], [`Filter::get_one_into`] to make a
//! record where the event carries it, [`Filter::put_one_owned`],
//! [`Filter::record_terminator`] to frame a record straight into the
//! output, and [`Filter::input_room`] to read straight into a filter's
//! buffer).
//!
//! Unlike POE, which `die`s, a line or buffer over its limit is a
//! [`FilterError`] for that stream alone.

mod block;
mod buffer;
mod error;
mod grep;
mod line;
mod map;
pub(crate) mod pool;
mod record_block;
mod reference;
mod stackable;
mod stream;

pub use self::block::{Block, DecimalLength, Decoded, LengthCodec};
pub use self::error::FilterError;
pub use self::grep::Grep;
pub use self::line::{Line, LineBuilder, Matcher};
pub use self::map::Map;
pub use self::record_block::RecordBlock;
pub use self::reference::{Reference, Serializer, ValueCodec};
pub use self::stackable::Stackable;
pub use self::stream::Stream;

use crate::Value;

/// A POE filter: framing between raw chunks and records.
pub trait Filter {
    /// Appends raw chunks to the filter's buffer (POE's `get_one_start`).
    ///
    /// # Errors
    /// [`FilterError::BufferFull`] past the filter's buffer limit (the
    /// buffer is then dropped), [`FilterError::BadChunk`] for a chunk of the
    /// wrong kind.
    fn get_one_start(&mut self, chunks: Vec<Value>) -> Result<(), FilterError>;

    /// The next complete record, if there is one (POE's `get_one`).
    ///
    /// # Errors
    /// A framing error, e.g. [`FilterError::LineTooLong`]; the offending data
    /// is dropped and the filter can go on.
    fn get_one(&mut self) -> Result<Option<Value>, FilterError>;

    /// The next complete record, if there is one, written into `slot`
    /// (`get_one` for a wheel that has its event's arguments ready: the
    /// record is made where the event carries it, not returned through
    /// memory and copied there). `Ok(false)`, and `slot` untouched, if
    /// there is none.
    ///
    /// # Errors
    /// As [`get_one`](Self::get_one).
    fn get_one_into(&mut self, slot: &mut Value) -> Result<bool, FilterError> {
        Ok(store_record(slot, self.get_one()?))
    }

    /// Appends chunks and returns every complete record (POE's `get`).
    ///
    /// # Errors
    /// As [`get_one_start`](Self::get_one_start) and
    /// [`get_one`](Self::get_one).
    fn get(&mut self, chunks: Vec<Value>) -> Result<Vec<Value>, FilterError> {
        self.get_one_start(chunks)?;
        let mut records = Vec::new();
        while let Some(r) = self.get_one()? {
            records.push(r);
        }
        Ok(records)
    }

    /// Serialises records into raw chunks (POE's `put`).
    ///
    /// # Errors
    /// [`FilterError::BadRecord`] for a record the filter cannot frame.
    fn put(&mut self, records: Vec<Value>) -> Result<Vec<Value>, FilterError>;

    /// What is buffered and not yet a record, or `None` if nothing is
    /// (POE's `get_pending`, used when switching filters).
    fn get_pending(&self) -> Option<Vec<Value>>;

    /// A new filter with the same settings and an empty buffer (POE's
    /// `clone`): one per connection.
    fn fresh(&self) -> Box<dyn Filter>;

    /// The filter's type name (for `Stackable::filter_types`).
    fn type_name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }

    /// Appends raw bytes (the wheels' fast path; same as one `Bytes` chunk).
    ///
    /// # Errors
    /// As [`get_one_start`](Self::get_one_start).
    fn get_one_start_bytes(&mut self, bytes: &[u8]) -> Result<(), FilterError> {
        self.get_one_start(vec![Value::Bytes(bytes.to_vec())])
    }

    /// Free room at the end of the filter's framing buffer, for a wheel to
    /// read raw input into directly (saving a copy from its shared read
    /// buffer), when at least `min` bytes are free there without growing
    /// the buffer. The wheel then calls
    /// [`commit_input`](Self::commit_input) with the bytes it read.
    /// `None`, the default: input arrives through
    /// [`get_one_start_bytes`](Self::get_one_start_bytes).
    fn input_room(&mut self, min: usize) -> Option<&mut [u8]> {
        let _ = min;
        None
    }

    /// Takes `n` bytes read into [`input_room`](Self::input_room) as input,
    /// as if given to [`get_one_start_bytes`](Self::get_one_start_bytes).
    ///
    /// # Errors
    /// As [`get_one_start`](Self::get_one_start).
    fn commit_input(&mut self, n: usize) -> Result<(), FilterError> {
        let _ = n;
        Ok(())
    }

    /// Serialises records and appends the bytes to `out` (the wheels' fast
    /// path).
    ///
    /// # Errors
    /// As [`put`](Self::put), and [`FilterError::BadChunk`] if the filter
    /// produced chunks that are not bytes.
    fn put_bytes(&mut self, records: Vec<Value>, out: &mut Vec<u8>) -> Result<(), FilterError> {
        for chunk in self.put(records)? {
            out.extend_from_slice(chunk_bytes(&chunk)?);
        }
        Ok(())
    }

    /// Serialises one record and appends the bytes to `out` (the wheels'
    /// fast path for `put` of a single record: no list is built).
    ///
    /// # Errors
    /// As [`put_bytes`](Self::put_bytes).
    fn put_one_bytes(&mut self, record: Value, out: &mut Vec<u8>) -> Result<(), FilterError> {
        self.put_bytes(vec![record], out)
    }

    /// Serialises one record into bytes of its own (the wheels' zero-copy
    /// path: a byte filter may reuse the record's buffer).
    ///
    /// # Errors
    /// As [`put_bytes`](Self::put_bytes).
    fn put_one_owned(&mut self, record: Value) -> Result<Vec<u8>, FilterError> {
        let mut out = Vec::new();
        self.put_one_bytes(record, &mut out)?;
        Ok(out)
    }

    /// For a filter that frames a byte record (`Bytes` or `Str`) as the
    /// record's bytes followed by a fixed terminator, as Line does (its
    /// output literal) and Stream does (an empty one): that terminator. A
    /// wheel then copies a small record and the terminator straight into
    /// its output and hands the record's buffer back to its input filter,
    /// with no framed record in between. `None`, the default: records go
    /// through [`put_one_owned`](Self::put_one_owned).
    fn record_terminator(&self) -> Option<&[u8]> {
        None
    }

    /// Takes back a record's buffer that its wheel is done with (a line it
    /// copied into its output, say), for the next record this filter makes.
    /// The default, and a filter's choice for buffers it does not keep,
    /// hands it to a per-thread pool that every filter draws from.
    fn recycle(&mut self, buf: Vec<u8>) {
        pool::give(buf);
    }
}

/// Appends a record's terminator; the usual ones (none, LF, CRLF) without
/// a call to `memcpy`, which costs more than the copy.
#[inline(always)]
pub(crate) fn append_terminator(out: &mut Vec<u8>, term: &[u8]) {
    match *term {
        [] => {}
        [a] => out.push(a),
        [a, b] => out.extend_from_slice(&[a, b]),
        _ => out.extend_from_slice(term),
    }
}

/// Stores `record`, if any, in `slot` ([`Filter::get_one_into`]'s answer).
#[inline]
pub(crate) fn store_record(slot: &mut Value, record: Option<Value>) -> bool {
    match record {
        Some(record) => {
            *slot = record;
            true
        }
        None => false,
    }
}

/// `get_one_start` for the byte filters: each chunk's bytes through their
/// `get_one_start_bytes`.
pub(crate) fn start_bytes(filter: &mut dyn Filter, chunks: &[Value]) -> Result<(), FilterError> {
    for c in chunks {
        filter.get_one_start_bytes(chunk_bytes(c)?)?;
    }
    Ok(())
}

/// The bytes of a raw chunk: `Bytes` or `Str`.
pub(crate) fn chunk_bytes(v: &Value) -> Result<&[u8], FilterError> {
    match v {
        Value::Bytes(b) => Ok(b),
        Value::Str(s) => Ok(s.as_bytes()),
        other => Err(FilterError::BadChunk(other.type_name())),
    }
}

/// A record's own bytes, taken without copying: `Bytes` or `Str`.
#[inline]
pub(crate) fn into_record_bytes(v: Value) -> Result<Vec<u8>, FilterError> {
    match v {
        Value::Bytes(b) => Ok(b),
        Value::Str(s) => Ok(s.into_bytes()),
        other => Err(FilterError::BadRecord(other.type_name())),
    }
}

/// The bytes of a record a byte filter frames: `Bytes` or `Str`.
pub(crate) fn record_bytes(v: &Value) -> Result<&[u8], FilterError> {
    chunk_bytes(v).map_err(|_| FilterError::BadRecord(v.type_name()))
}
