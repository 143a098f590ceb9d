//! `Block` (POE::Filter::Block): length-prefixed or fixed-size records.
//!
//! By default each record is framed as `"<decimal length>\0<data>"`; bytes
//! before a length that are not digits are dropped with one log warning
//! ("N strange bytes removed from stream", as POE warns), and that call
//! returns no record, as in POE. With [`Block::fixed`] records are
//! `block_size` bytes and `put` joins them without padding. The header
//! format is pluggable ([`LengthCodec`]). Unlike POE, a header announcing
//! more than `max_length` bytes is an error *before* any of the payload is
//! buffered, and the buffer never grows past `max_buffer`.

use std::fmt;
use std::rc::Rc;

use super::buffer::Buffer;
use super::{record_bytes, start_bytes, Filter, FilterError};
use crate::Value;

/// What a length codec found at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// Not enough bytes yet to read a header.
    Need,
    /// So many bytes of junk to drop before a header could start.
    Junk(usize),
    /// A header of `header` bytes announcing a `len`-byte record.
    Frame {
        /// Length of the header itself.
        header: usize,
        /// Length of the record after it.
        len: usize,
    },
}

/// How record lengths are written and read (POE's `LengthCodec`).
pub trait LengthCodec {
    /// Appends the header for a record of `len` bytes to `out`.
    fn encode(&self, len: usize, out: &mut Vec<u8>);
    /// Reads a header at the start of `buf`.
    fn decode(&self, buf: &[u8]) -> Decoded;
}

/// POE's default header: decimal digits and a NUL.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecimalLength;

impl LengthCodec for DecimalLength {
    fn encode(&self, len: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(0);
    }

    fn decode(&self, buf: &[u8]) -> Decoded {
        let junk = buf.iter().position(u8::is_ascii_digit).unwrap_or(buf.len());
        if junk > 0 {
            return Decoded::Junk(junk);
        }
        let digits = buf
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(buf.len());
        if digits == buf.len() {
            return Decoded::Need;
        }
        if buf[digits] != 0 {
            return Decoded::Junk(digits + 1);
        }
        // Digits are ASCII; an overlong number saturates and fails the limit.
        let len = std::str::from_utf8(&buf[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(usize::MAX);
        Decoded::Frame {
            header: digits + 1,
            len,
        }
    }
}

#[derive(Clone)]
enum Framing {
    Length(Rc<dyn LengthCodec>),
    Fixed(usize),
}

/// The block filter. See the module documentation.
///
/// ```
/// use rpoe::filter::{Block, Filter};
/// use rpoe::Value;
/// let mut b = Block::new();
/// let wire = b.put(vec!["hello".into()]).unwrap();
/// assert_eq!(wire, [Value::Bytes(b"5\0hello".to_vec())]);
/// assert_eq!(b.get(wire).unwrap(), [Value::Bytes(b"hello".to_vec())]);
/// ```
#[derive(Clone)]
pub struct Block {
    framing: Framing,
    max_length: usize,
    max_buffer: usize,
    buf: Buffer,
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("buffered", &self.buf.len())
            .field("max_length", &self.max_length)
            .finish()
    }
}

impl Default for Block {
    fn default() -> Self {
        Block::new()
    }
}

const MAX_LENGTH: usize = 64 * 1024 * 1024;
const MAX_BUFFER: usize = 512 * 1024 * 1024;

impl Block {
    /// POE's default: `"LEN\0DATA"` records, 64 MiB at most each.
    pub fn new() -> Self {
        Block::with_codec(DecimalLength)
    }

    /// Records of exactly `block_size` bytes (POE's `BlockSize`).
    ///
    /// # Errors
    /// [`FilterError::Config`] for a size of 0 (POE croaks).
    pub fn fixed(block_size: usize) -> Result<Self, FilterError> {
        if block_size == 0 {
            return Err(FilterError::Config("block_size must be positive"));
        }
        Ok(Block {
            framing: Framing::Fixed(block_size),
            ..Block::new()
        })
    }

    /// Length-prefixed records with another header format (POE's
    /// `LengthCodec`).
    pub fn with_codec(codec: impl LengthCodec + 'static) -> Self {
        Block {
            framing: Framing::Length(Rc::new(codec)),
            max_length: MAX_LENGTH,
            max_buffer: MAX_BUFFER,
            buf: Buffer::default(),
        }
    }

    /// The largest record a header may announce (POE's `MaxLength`).
    pub fn max_length(mut self, bytes: usize) -> Self {
        self.max_length = bytes;
        self
    }

    /// The most bytes buffered (POE's `MaxBuffer`).
    pub fn max_buffer(mut self, bytes: usize) -> Self {
        self.max_buffer = bytes;
        self
    }

    /// The `max_length` in force.
    pub(crate) fn limit(&self) -> usize {
        self.max_length
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), FilterError> {
        self.buf.append(bytes, self.max_buffer)
    }
}

impl Filter for Block {
    fn get_one_start(&mut self, chunks: Vec<Value>) -> Result<(), FilterError> {
        start_bytes(self, &chunks)
    }

    fn get_one_start_bytes(&mut self, bytes: &[u8]) -> Result<(), FilterError> {
        self.append(bytes)
    }

    fn input_room(&mut self, min: usize) -> Option<&mut [u8]> {
        self.buf.room(min)
    }

    fn commit_input(&mut self, n: usize) -> Result<(), FilterError> {
        self.buf.commit(n, self.max_buffer)
    }

    fn get_one(&mut self) -> Result<Option<Value>, FilterError> {
        let data = self.buf.data();
        match &self.framing {
            Framing::Fixed(n) => {
                if data.len() < *n {
                    return Ok(None);
                }
                let record = data[..*n].to_vec();
                self.buf.consume(*n);
                Ok(Some(Value::Bytes(record)))
            }
            Framing::Length(codec) => match codec.decode(data) {
                Decoded::Need => Ok(None),
                Decoded::Junk(n) => {
                    log::warn!("{n} strange bytes removed from stream");
                    self.buf.consume(n);
                    Ok(None)
                }
                Decoded::Frame { header, len } => {
                    if len > self.max_length {
                        self.buf.clear();
                        return Err(FilterError::BlockTooLong {
                            len,
                            max: self.max_length,
                        });
                    }
                    if data.len() < header + len {
                        return Ok(None);
                    }
                    let record = data[header..header + len].to_vec();
                    self.buf.consume(header + len);
                    Ok(Some(Value::Bytes(record)))
                }
            },
        }
    }

    fn put(&mut self, records: Vec<Value>) -> Result<Vec<Value>, FilterError> {
        match &self.framing {
            Framing::Fixed(_) => {
                let mut joined = Vec::new();
                for r in &records {
                    joined.extend_from_slice(record_bytes(r)?);
                }
                Ok(vec![Value::Bytes(joined)])
            }
            Framing::Length(codec) => records
                .iter()
                .map(|r| {
                    let data = record_bytes(r)?;
                    let mut out = Vec::with_capacity(data.len() + 12);
                    codec.encode(data.len(), &mut out);
                    out.extend_from_slice(data);
                    Ok(Value::Bytes(out))
                })
                .collect(),
        }
    }

    fn get_pending(&self) -> Option<Vec<Value>> {
        self.buf.pending()
    }

    fn fresh(&self) -> Box<dyn Filter> {
        let mut f = self.clone();
        f.buf.clear();
        Box::new(f)
    }
}
