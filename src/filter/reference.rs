//! `Reference` (POE::Filter::Reference): values frozen into length-framed
//! records, with a pluggable [`Serializer`].
//!
//! Each record is a `Value::List` or `Value::Map` (POE's references; other
//! values are refused, as POE chokes on non-references), frozen by the
//! serializer and framed as `"<length>\0<frozen>"`. POE's default serializer
//! is Perl's Storable; rpoe's is [`ValueCodec`], a compact binary form of
//! [`Value`] (sessions, alarm ids and shared values cannot be frozen).

use std::rc::Rc;

use super::{Block, Filter, FilterError};
use crate::Value;

/// Freezes values to bytes and thaws them back (POE's `Serializer`).
pub trait Serializer {
    /// Freezes a value.
    ///
    /// # Errors
    /// [`FilterError::BadRecord`] for a value it cannot freeze.
    fn freeze(&self, value: &Value) -> Result<Vec<u8>, FilterError>;
    /// Thaws bytes frozen by [`freeze`](Self::freeze).
    ///
    /// # Errors
    /// [`FilterError::Thaw`] for bytes it cannot read.
    fn thaw(&self, bytes: &[u8]) -> Result<Value, FilterError>;
}

/// rpoe's default serializer: a tagged binary form of plain values.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueCodec;

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

fn freeze_into(v: &Value, out: &mut Vec<u8>) -> Result<(), FilterError> {
    match v {
        Value::Undef => out.push(0),
        Value::Bool(b) => out.extend_from_slice(&[1, *b as u8]),
        Value::Int(i) => {
            out.push(2);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(x) => {
            out.push(3);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Str(s) => {
            out.push(4);
            put_len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(5);
            put_len(out, b.len());
            out.extend_from_slice(b);
        }
        Value::List(l) => {
            out.push(6);
            put_len(out, l.len());
            for x in l {
                freeze_into(x, out)?;
            }
        }
        Value::Map(m) => {
            out.push(7);
            put_len(out, m.len());
            for (k, x) in m {
                put_len(out, k.len());
                out.extend_from_slice(k.as_bytes());
                freeze_into(x, out)?;
            }
        }
        other => return Err(FilterError::BadRecord(other.type_name())),
    }
    Ok(())
}

/// A cursor over frozen bytes; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FilterError> {
        if n > self.0.len() {
            return Err(FilterError::Thaw("truncated data"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u64(&mut self) -> Result<u64, FilterError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn len(&mut self) -> Result<usize, FilterError> {
        let n = self.u64()?;
        // A length can never exceed what is left: no huge allocations.
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.0.len())
            .ok_or(FilterError::Thaw("bad length"))
    }
    fn value(&mut self, depth: usize) -> Result<Value, FilterError> {
        if depth > 256 {
            return Err(FilterError::Thaw("nested too deeply"));
        }
        Ok(match self.take(1)?[0] {
            0 => Value::Undef,
            1 => Value::Bool(self.take(1)?[0] != 0),
            2 => Value::Int(self.u64()? as i64),
            3 => Value::Float(f64::from_bits(self.u64()?)),
            4 => {
                let n = self.len()?;
                Value::Str(
                    String::from_utf8(self.take(n)?.to_vec())
                        .map_err(|_| FilterError::Thaw("bad UTF-8"))?,
                )
            }
            5 => {
                let n = self.len()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            6 => {
                let n = self.len()?;
                let mut l = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    l.push(self.value(depth + 1)?);
                }
                Value::List(l)
            }
            7 => {
                let n = self.len()?;
                let mut m = std::collections::BTreeMap::new();
                for _ in 0..n {
                    let k = self.len()?;
                    let k = String::from_utf8(self.take(k)?.to_vec())
                        .map_err(|_| FilterError::Thaw("bad UTF-8"))?;
                    m.insert(k, self.value(depth + 1)?);
                }
                Value::Map(m)
            }
            _ => return Err(FilterError::Thaw("unknown tag")),
        })
    }
}

impl Serializer for ValueCodec {
    fn freeze(&self, value: &Value) -> Result<Vec<u8>, FilterError> {
        let mut out = Vec::new();
        freeze_into(value, &mut out)?;
        Ok(out)
    }

    fn thaw(&self, bytes: &[u8]) -> Result<Value, FilterError> {
        let mut r = Reader(bytes);
        let v = r.value(0)?;
        if !r.0.is_empty() {
            return Err(FilterError::Thaw("trailing bytes"));
        }
        Ok(v)
    }
}

/// The reference filter. See the module documentation.
///
/// ```
/// use rpoe::filter::{Filter, Reference};
/// use rpoe::Value;
/// let mut r = Reference::new();
/// let list = Value::List(vec![2.into(), 3.into()]);
/// let wire = r.put(vec![list.clone()]).unwrap();
/// assert_eq!(r.get(wire).unwrap(), [list]);
/// ```
#[derive(Clone)]
pub struct Reference {
    frames: Block,
    serializer: Rc<dyn Serializer>,
    no_fatals: bool,
}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reference")
            .field("no_fatals", &self.no_fatals)
            .finish()
    }
}

impl Default for Reference {
    fn default() -> Self {
        Reference::new()
    }
}

impl Reference {
    /// With rpoe's [`ValueCodec`].
    pub fn new() -> Self {
        Reference::with_serializer(ValueCodec)
    }

    /// With another serializer (POE's `Serializer`).
    pub fn with_serializer(serializer: impl Serializer + 'static) -> Self {
        Reference {
            frames: Block::new(),
            serializer: Rc::new(serializer),
            no_fatals: false,
        }
    }

    /// Thaw errors become string records instead of errors (POE's
    /// `NoFatals`).
    pub fn no_fatals(mut self, on: bool) -> Self {
        self.no_fatals = on;
        self
    }

    /// The largest frozen record accepted (POE's `MaxBuffer` role).
    pub fn max_length(mut self, bytes: usize) -> Self {
        self.frames = self.frames.max_length(bytes);
        self
    }
}

impl Filter for Reference {
    fn get_one_start(&mut self, chunks: Vec<Value>) -> Result<(), FilterError> {
        self.frames.get_one_start(chunks)
    }

    fn get_one_start_bytes(&mut self, bytes: &[u8]) -> Result<(), FilterError> {
        self.frames.get_one_start_bytes(bytes)
    }

    fn get_one(&mut self) -> Result<Option<Value>, FilterError> {
        let Some(frame) = self.frames.get_one()? else {
            return Ok(None);
        };
        let bytes = frame.as_bytes().unwrap_or_default();
        match self.serializer.thaw(bytes) {
            Ok(v) => Ok(Some(v)),
            Err(e) if self.no_fatals => Ok(Some(Value::Str(e.to_string()))),
            Err(e) => Err(e),
        }
    }

    fn put(&mut self, records: Vec<Value>) -> Result<Vec<Value>, FilterError> {
        let mut frozen = Vec::with_capacity(records.len());
        for r in &records {
            if !matches!(r, Value::List(_) | Value::Map(_)) {
                return Err(FilterError::BadRecord(r.type_name()));
            }
            frozen.push(Value::Bytes(self.serializer.freeze(r)?));
        }
        self.frames.put(frozen)
    }

    fn get_pending(&self) -> Option<Vec<Value>> {
        self.frames.get_pending()
    }

    fn fresh(&self) -> Box<dyn Filter> {
        Box::new(Reference {
            frames: Block::new().max_length(self.frames_max()),
            serializer: self.serializer.clone(),
            no_fatals: self.no_fatals,
        })
    }
}

impl Reference {
    fn frames_max(&self) -> usize {
        self.frames.limit()
    }
}
