//! `Line` (POE::Filter::Line): records separated by line terminators.
//!
//! Input: by default any of CR, LF, CRLF or LFCR ends a line (POE's
//! `(\x0D\x0A?|\x0A\x0D?)`; a CR at the very end of the data ends its line
//! at once, so a CRLF split across two reads yields an extra empty line, as
//! in POE). Or one literal terminator; or autodetection (the first
//! terminator seen becomes the literal; a lone CR or LF at the end of the
//! data is completed by the complementary byte if the next data starts with
//! it); or a [`Matcher`] function, in place of POE's `InputRegexp` (rpoe has
//! no regular-expression engine). Output: each record plus the output
//! literal, CRLF by default.
//!
//! Unlike POE: the search for a terminator resumes where the last one
//! stopped, so a long partial line is not scanned again on each read; a line
//! that grows past `max_length` is an error as soon as it does (not when its
//! terminator finally arrives), and the buffer never grows past
//! `max_buffer`. Defaults are POE's: 64 MiB and 512 MiB.

use std::fmt;
use std::rc::Rc;

use super::buffer::Buffer;
use super::{record_bytes, start_bytes, Filter, FilterError};
use crate::Value;

/// A custom input separator: given the unconsumed data, the offset and
/// length of its first separator, if any. The whole unconsumed data is
/// passed each time (unlike the built-in separators, a matcher rescans).
pub type Matcher = Rc<dyn Fn(&[u8]) -> Option<(usize, usize)>>;

/// POE's defaults.
const MAX_LENGTH: usize = 64 * 1024 * 1024;
const MAX_BUFFER: usize = 512 * 1024 * 1024;

#[derive(Clone)]
enum Input {
    /// CR, LF, CRLF or LFCR.
    Any,
    Literal(Vec<u8>),
    /// Not decided yet; `Some(b)` after a lone CR/LF ended the data.
    Autodetect(Option<u8>),
    Custom(Matcher),
}

/// The line filter. See the module documentation.
///
/// ```
/// use rpoe::filter::{Filter, Line};
/// use rpoe::Value;
/// let mut line = Line::new();
/// let got = line.get(vec![Value::from("a\nb\r\nc\rd\n\re")]).unwrap();
/// let got: Vec<&str> = got.iter().map(|v| v.as_utf8().unwrap()).collect();
/// assert_eq!(got, ["a", "b", "c", "d"]);
/// assert_eq!(line.put(vec!["x".into()]).unwrap(), [Value::Bytes(b"x\r\n".to_vec())]);
/// ```
#[derive(Clone)]
pub struct Line {
    /// The input mode as configured (for `fresh`).
    configured: Input,
    input: Input,
    output: Vec<u8>,
    max_length: usize,
    max_buffer: usize,
    buf: Buffer,
    /// Where the terminator search resumes, from the start of the data.
    scan: usize,
    /// The default mode (CR, LF, CRLF, LFCR), which a filter keeps for
    /// life: `get_one` takes its short path.
    any: bool,
    /// A small record buffer given back by the wheel (see
    /// [`Filter::recycle`]), for the next line: an echoed line's buffer
    /// goes round without the per-thread pool's lookups.
    spare: Option<Vec<u8>>,
}

/// The first CR or LF in `hay`. On x86-64 with AVX2, through a searcher
/// built once (`memchr2` looks the CPU's searcher up and builds it anew on
/// every call: about half of its 83 instructions on a 64-byte line).
#[inline]
fn find_cr_or_lf(hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use memchr::arch::x86_64::avx2::memchr::Two;
        use std::sync::OnceLock;
        static SEARCHER: OnceLock<Option<Two>> = OnceLock::new();
        if let Some(two) = SEARCHER.get_or_init(|| Two::new(b'\r', b'\n')) {
            return two.find(hay);
        }
    }
    memchr::memchr2(b'\r', b'\n', hay)
}

/// The biggest buffer a Line filter keeps for itself; bigger ones go to
/// the per-thread pool, so an idle connection holds at most this much.
const SPARE_MAX: usize = 1024;

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Line")
            .field("buffered", &self.buf.len())
            .field("max_length", &self.max_length)
            .field("max_buffer", &self.max_buffer)
            .finish()
    }
}

/// Settings for a [`Line`] filter (POE's constructor parameters).
#[derive(Clone)]
pub struct LineBuilder {
    input: Input,
    output: Vec<u8>,
    max_length: usize,
    max_buffer: usize,
}

impl fmt::Debug for LineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineBuilder")
            .field("max_length", &self.max_length)
            .finish()
    }
}

impl LineBuilder {
    /// One terminator for input and output (POE's `Literal`).
    pub fn literal(mut self, literal: impl Into<Vec<u8>>) -> Self {
        let literal = literal.into();
        self.output = literal.clone();
        self.input = Input::Literal(literal);
        self
    }

    /// The input terminator only (POE's `InputLiteral`); empty means
    /// autodetect.
    pub fn input_literal(mut self, literal: impl Into<Vec<u8>>) -> Self {
        let literal = literal.into();
        self.input = if literal.is_empty() {
            Input::Autodetect(None)
        } else {
            Input::Literal(literal)
        };
        self
    }

    /// Learn the input terminator from the first line (POE's
    /// `InputLiteral => undef`).
    pub fn autodetect(mut self) -> Self {
        self.input = Input::Autodetect(None);
        self
    }

    /// A custom input separator (in place of POE's `InputRegexp`).
    pub fn input_matcher(
        mut self,
        matcher: impl Fn(&[u8]) -> Option<(usize, usize)> + 'static,
    ) -> Self {
        self.input = Input::Custom(Rc::new(matcher));
        self
    }

    /// The output terminator (POE's `OutputLiteral`; default CRLF).
    pub fn output_literal(mut self, literal: impl Into<Vec<u8>>) -> Self {
        self.output = literal.into();
        self
    }

    /// The longest line accepted, in bytes (POE's `MaxLength`).
    pub fn max_length(mut self, bytes: usize) -> Self {
        self.max_length = bytes;
        self
    }

    /// The most bytes buffered (POE's `MaxBuffer`).
    pub fn max_buffer(mut self, bytes: usize) -> Self {
        self.max_buffer = bytes;
        self
    }

    /// The filter.
    ///
    /// # Errors
    /// [`FilterError::Config`] where POE croaks: a zero limit, `max_length`
    /// above `max_buffer`, or an empty `literal`.
    pub fn build(self) -> Result<Line, FilterError> {
        if self.max_length == 0 || self.max_buffer == 0 {
            return Err(FilterError::Config(
                "max_length and max_buffer must be positive",
            ));
        }
        if self.max_length > self.max_buffer {
            return Err(FilterError::Config("max_length must not exceed max_buffer"));
        }
        if matches!(&self.input, Input::Literal(l) if l.is_empty()) {
            return Err(FilterError::Config("the literal terminator is empty"));
        }
        Ok(Line {
            any: matches!(self.input, Input::Any),
            configured: self.input.clone(),
            input: self.input,
            output: self.output,
            max_length: self.max_length,
            max_buffer: self.max_buffer,
            buf: Buffer::default(),
            scan: 0,
            spare: None,
        })
    }
}

impl Line {
    /// POE's default line filter: any of CR, LF, CRLF, LFCR in; CRLF out.
    pub fn new() -> Self {
        Line::builder().build().expect("the defaults are valid")
    }

    /// Settings other than the defaults.
    pub fn builder() -> LineBuilder {
        LineBuilder {
            input: Input::Any,
            output: b"\r\n".to_vec(),
            max_length: MAX_LENGTH,
            max_buffer: MAX_BUFFER,
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), FilterError> {
        let result = self.buf.append(bytes, self.max_buffer);
        if result.is_err() {
            self.scan = 0;
        }
        result
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.scan = 0;
    }

    /// `get_one` in the default mode (CR, LF, CRLF or LFCR), which never
    /// changes: the same steps without matching the mode on every line.
    #[inline]
    fn get_one_any(&mut self) -> Result<Option<Value>, FilterError> {
        Ok(self.next_any()?.map(Value::Bytes))
    }

    /// The next line in the default mode (any of CR, LF, CRLF, LFCR ends
    /// it), checked against the maximum length.
    #[inline(always)]
    fn next_any(&mut self) -> Result<Option<Vec<u8>>, FilterError> {
        let data = self.buf.data();
        let from = self.scan.min(data.len());
        let Some(p) = find_cr_or_lf(&data[from..]) else {
            return self.no_terminator(true).map(|_| None);
        };
        let at = from + p;
        let pair = if data[at] == b'\r' { b'\n' } else { b'\r' };
        let len = if data.get(at + 1) == Some(&pair) {
            2
        } else {
            1
        };
        let line = self.cut_line(at, len);
        self.fits(&line)?;
        Ok(Some(line))
    }

    /// No terminator in the data: an error if the partial line is already
    /// too long; else, with `resume`, the next search starts past it.
    fn no_terminator(&mut self, resume: bool) -> Result<Option<Value>, FilterError> {
        if self.buf.len() > self.max_length {
            self.clear();
            return Err(FilterError::LineTooLong {
                max: self.max_length,
            });
        }
        if resume {
            self.scan = self.buf.len();
        }
        Ok(None)
    }

    /// Takes the line ending at `at` (its terminator `len` bytes long) out
    /// of the buffer, into a buffer with room for the output terminator, so
    /// an echoed line is framed in place.
    #[inline]
    fn cut_line(&mut self, at: usize, len: usize) -> Vec<u8> {
        let want = at + self.output.len();
        let mut line = match self.spare.take() {
            Some(spare) if spare.capacity() >= want => spare,
            other => {
                if let Some(small) = other {
                    super::pool::give(small);
                }
                super::pool::take(want)
            }
        };
        line.extend_from_slice(&self.buf.data()[..at]);
        self.buf.consume(at + len);
        self.scan = 0;
        line
    }

    /// The line as a record, or an error if it is longer than allowed.
    #[inline]
    fn checked(&self, line: Vec<u8>) -> Result<Option<Value>, FilterError> {
        self.fits(&line)?;
        Ok(Some(Value::Bytes(line)))
    }

    /// [`FilterError::LineTooLong`] for a line over the maximum length.
    #[inline(always)]
    fn fits(&self, line: &[u8]) -> Result<(), FilterError> {
        if line.len() > self.max_length {
            return Err(FilterError::LineTooLong {
                max: self.max_length,
            });
        }
        Ok(())
    }

    /// The next terminator at or after `self.scan`: (offset, length) in the
    /// unconsumed data.
    fn find(&mut self) -> Option<(usize, usize)> {
        let data = self.buf.data();
        let from = self.scan.min(data.len());
        match &self.input {
            Input::Any | Input::Autodetect(None) => {
                let i = from + find_cr_or_lf(&data[from..])?;
                let pair = if data[i] == b'\r' { b'\n' } else { b'\r' };
                let len = if data.get(i + 1) == Some(&pair) { 2 } else { 1 };
                Some((i, len))
            }
            Input::Literal(lit) => {
                // Find the first byte fast, then compare the rest.
                let first = lit[0];
                let hay = &data[from..];
                let mut at = 0;
                let found = loop {
                    match memchr::memchr(first, &hay[at..]) {
                        None => break None,
                        Some(p) if hay[at + p..].starts_with(lit) => break Some(at + p),
                        Some(p) if hay.len() - (at + p) < lit.len() => break None,
                        Some(p) => at += p + 1,
                    }
                };
                match found {
                    Some(p) => Some((from + p, lit.len())),
                    None => {
                        // Resume where a terminator could still start.
                        self.scan = data.len().saturating_sub(lit.len() - 1);
                        None
                    }
                }
            }
            Input::Custom(m) => m(data),
            Input::Autodetect(Some(_)) => None,
        }
    }
}

impl Filter for Line {
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
        let result = self.buf.commit(n, self.max_buffer);
        if result.is_err() {
            self.scan = 0;
        }
        result
    }

    fn get_one(&mut self) -> Result<Option<Value>, FilterError> {
        if self.any {
            return self.get_one_any();
        }
        // A lone CR or LF ended the data while detecting: complete it now.
        if let Input::Autodetect(Some(first)) = self.input {
            let Some(&next) = self.buf.data().first() else {
                return Ok(None);
            };
            let pair = if first == b'\r' { b'\n' } else { b'\r' };
            let mut literal = vec![first];
            if next == pair {
                literal.push(pair);
                self.buf.consume(1);
            }
            self.scan = 0;
            self.input = Input::Literal(literal);
        }
        let Some((at, len)) = self.find() else {
            let resume = !matches!(self.input, Input::Literal(_));
            return self.no_terminator(resume);
        };
        let term = matches!(self.input, Input::Autodetect(None))
            .then(|| self.buf.data()[at..at + len].to_vec());
        let line = self.cut_line(at, len);
        if let Some(term) = term {
            self.input = if len == 2 || !self.buf.is_empty() {
                Input::Literal(term)
            } else {
                Input::Autodetect(Some(term[0]))
            };
        }
        self.checked(line)
    }

    fn get_one_into(&mut self, slot: &mut Value) -> Result<bool, FilterError> {
        if !self.any {
            return Ok(super::store_record(slot, self.get_one()?));
        }
        Ok(match self.next_any()? {
            Some(line) => {
                *slot = Value::Bytes(line);
                true
            }
            None => false,
        })
    }

    fn put(&mut self, records: Vec<Value>) -> Result<Vec<Value>, FilterError> {
        records
            .iter()
            .map(|r| {
                let mut out = record_bytes(r)?.to_vec();
                out.extend_from_slice(&self.output);
                Ok(Value::Bytes(out))
            })
            .collect()
    }

    fn put_bytes(&mut self, records: Vec<Value>, out: &mut Vec<u8>) -> Result<(), FilterError> {
        for r in &records {
            out.extend_from_slice(record_bytes(r)?);
            out.extend_from_slice(&self.output);
        }
        Ok(())
    }

    fn put_one_owned(&mut self, record: Value) -> Result<Vec<u8>, FilterError> {
        let mut bytes = super::into_record_bytes(record)?;
        super::append_terminator(&mut bytes, &self.output);
        Ok(bytes)
    }

    fn put_one_bytes(&mut self, record: Value, out: &mut Vec<u8>) -> Result<(), FilterError> {
        out.extend_from_slice(record_bytes(&record)?);
        out.extend_from_slice(&self.output);
        Ok(())
    }

    fn record_terminator(&self) -> Option<&[u8]> {
        Some(&self.output)
    }

    fn get_pending(&self) -> Option<Vec<Value>> {
        self.buf.pending()
    }

    fn fresh(&self) -> Box<dyn Filter> {
        let mut f = self.clone();
        f.input = self.configured.clone();
        f.spare = None;
        f.clear();
        Box::new(f)
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.is_none() && buf.capacity() <= SPARE_MAX {
            buf.clear();
            self.spare = Some(buf);
        } else {
            super::pool::give(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search built once finds what a plain scan finds: every length
    /// around the 16- and 32-byte steps of the vector searches, a CR or an
    /// LF at every place, none, and both.
    #[test]
    fn the_terminator_search_agrees_with_a_plain_scan() {
        for len in 0..=130 {
            let plain = vec![b'x'; len];
            assert_eq!(find_cr_or_lf(&plain), None, "len {len}");
            for at in 0..len {
                for (first, second) in [(b'\n', None), (b'\r', None), (b'\n', Some(b'\r'))] {
                    let mut hay = plain.clone();
                    hay[at] = first;
                    if let Some(b) = second {
                        if at + 3 < len {
                            hay[at + 3] = b;
                        }
                    }
                    let want = hay.iter().position(|&c| c == b'\r' || c == b'\n');
                    assert_eq!(find_cr_or_lf(&hay), want, "len {len} at {at}");
                    // And from an unaligned start.
                    if at > 0 {
                        assert_eq!(find_cr_or_lf(&hay[1..]), Some(at - 1), "len {len} at {at}");
                    }
                }
            }
        }
    }

    fn bytes_of(v: Value) -> Vec<u8> {
        match v {
            Value::Bytes(b) => b,
            other => panic!("a line is bytes, got {other:?}"),
        }
    }

    /// A small buffer given back is the next line's (no pool lookup), only
    /// one is kept, big ones are not kept, and the line's content never
    /// depends on what the buffer held before.
    #[test]
    fn recycled_buffers_serve_the_next_line() {
        let mut line = Line::new();
        line.get_one_start_bytes(b"first\nsecond\nthird\n").unwrap();
        let first = bytes_of(line.get_one().unwrap().unwrap());
        assert_eq!(first, b"first");
        let (at, cap) = (first.as_ptr(), first.capacity());
        line.recycle(first);
        let second = bytes_of(line.get_one().unwrap().unwrap());
        assert_eq!(second, b"second");
        assert_eq!(
            (second.as_ptr(), second.capacity()),
            (at, cap),
            "the same buffer"
        );
        line.recycle(second);
        line.recycle(Vec::with_capacity(64));
        assert!(
            line.spare.as_ref().is_some_and(|s| s.as_ptr() == at),
            "one kept"
        );
        let mut big = line.clone();
        big.spare = None;
        big.recycle(Vec::with_capacity(SPARE_MAX * 2));
        assert!(big.spare.is_none(), "big buffers go to the pool");
        assert_eq!(bytes_of(line.get_one().unwrap().unwrap()), b"third");
        assert!(line.fresh().get_one().unwrap().is_none());
    }

    /// A kept buffer too small for the next line is not grown in place:
    /// the line gets a buffer that fits.
    #[test]
    fn a_small_spare_does_not_hold_a_long_line() {
        let mut line = Line::new();
        line.recycle(Vec::with_capacity(8));
        let long = vec![b'x'; 500];
        line.get_one_start_bytes(&long).unwrap();
        line.get_one_start_bytes(b"\n").unwrap();
        let got = bytes_of(line.get_one().unwrap().unwrap());
        assert_eq!(got, long);
        assert!(got.capacity() >= 502, "room for the terminator too");
    }

    /// The wheel's put path frames with the output literal, whatever its
    /// length (one and two bytes are written without a copy call).
    #[test]
    fn put_one_owned_appends_the_output_literal() {
        for out in ["\n", "\r\n", "<EOL>"] {
            let mut line = Line::builder().output_literal(out).build().unwrap();
            let framed = line.put_one_owned(Value::from("abc")).unwrap();
            assert_eq!(framed, format!("abc{out}").into_bytes());
            let mut v = Vec::new();
            line.put_one_bytes(Value::from("abc"), &mut v).unwrap();
            assert_eq!(v, framed);
        }
    }
}
