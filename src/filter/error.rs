//! `FilterError`: what a filter reports instead of POE's `die`.

use std::fmt;

/// A framing failure, for one stream alone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterError {
    /// A line grew past `max_length` bytes before its terminator (POE dies
    /// "Next line exceeds maximum line length"). The line is dropped.
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// A block header announced `len` bytes, more than `max` (POE dies
    /// "Expected size of next block exceeds the limit"). The buffer is
    /// dropped before any of the block is read.
    BlockTooLong {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Buffered data would exceed `max_buffer` bytes (POE dies "Framing
    /// buffer exceeds the limit"). The buffer is dropped.
    BufferFull {
        /// The limit.
        max: usize,
    },
    /// A raw chunk that is neither bytes nor a string (its type).
    BadChunk(&'static str),
    /// A record this filter cannot serialise (its type).
    BadRecord(&'static str),
    /// A frozen record that the serializer cannot read (why).
    Thaw(&'static str),
    /// Settings POE would croak about (what is wrong).
    Config(&'static str),
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterError::LineTooLong { max } => {
                write!(f, "next line exceeds maximum line length ({max} bytes)")
            }
            FilterError::BlockTooLong { len, max } => {
                write!(
                    f,
                    "expected size of next block ({len} bytes) exceeds the limit ({max} bytes)"
                )
            }
            FilterError::BufferFull { max } => {
                write!(f, "framing buffer exceeds the limit ({max} bytes)")
            }
            FilterError::BadChunk(t) => write!(f, "a raw chunk must be bytes or a string, not {t}"),
            FilterError::BadRecord(t) => write!(f, "this filter cannot serialise a {t} record"),
            FilterError::Thaw(why) => write!(f, "cannot thaw a record: {why}"),
            FilterError::Config(why) => write!(f, "invalid filter settings: {why}"),
        }
    }
}

impl std::error::Error for FilterError {}
