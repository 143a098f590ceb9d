//! `Value`: what events carry and handlers return (POE's Perl scalars).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use super::{AlarmId, SessionId};

/// One event argument or handler return value: the Rust stand-in for a Perl
/// scalar.
///
/// The common cases are plain variants, so values are `Debug`, `Clone` and
/// comparable in tests. Anything else travels as [`Value::Shared`], a
/// reference-counted `dyn Any` that handlers read back with
/// [`Args::shared`](crate::Args::shared) or take with
/// [`Args::take_shared`](crate::Args::take_shared).
// The tag is a whole word: with a one-byte tag, every move of a value
// copied the seven bytes after it (where `Bool` keeps its payload) with
// misaligned loads and stores, which the CPU cannot forward from the
// stores that built the value (27 instructions less per echoed line, 15
// per `call`).
#[derive(Clone, Default)]
#[repr(u64)]
pub enum Value {
    /// Perl's `undef`; also what a handler returning `()` gives.
    #[default]
    Undef,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes (records of the byte filters).
    Bytes(Vec<u8>),
    /// A list (Perl's array reference, e.g. `_default`'s ARG1).
    List(Vec<Value>),
    /// A map (Perl's hash reference).
    Map(BTreeMap<String, Value>),
    /// A session (Perl's session reference, e.g. `_child`'s ARG1).
    Session(SessionId),
    /// An alarm id, as returned by `delay_set`.
    Alarm(AlarmId),
    /// Any other value, shared by reference count.
    Shared(Rc<dyn Any>),
}

impl Value {
    /// Wraps any value as [`Value::Shared`].
    pub fn shared<T: Any>(value: T) -> Self {
        Value::Shared(Rc::new(value))
    }

    /// Whether this is `Undef`.
    pub fn is_undef(&self) -> bool {
        matches!(self, Value::Undef)
    }

    /// The string, if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a `Bytes` or `Str` value (a filter record).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            Value::Str(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The string view of a `Str`, or of `Bytes` that are valid UTF-8
    /// (`None` otherwise: invalid UTF-8 is never a panic).
    pub fn as_utf8(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The integer, if this is an `Int`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The session, if this is a `Session`.
    pub fn as_session(&self) -> Option<SessionId> {
        match self {
            Value::Session(s) => Some(*s),
            _ => None,
        }
    }

    /// The elements, if this is a `List`.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Whether dropping this value frees anything (`undef`, booleans,
    /// numbers, sessions and alarm ids own no memory).
    #[inline(always)]
    pub(crate) fn owns_memory(&self) -> bool {
        !matches!(
            self,
            Value::Undef
                | Value::Bool(_)
                | Value::Int(_)
                | Value::Float(_)
                | Value::Session(_)
                | Value::Alarm(_)
        )
    }

    /// A short name of the variant, used in argument errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Undef => "undef",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Session(_) => "session",
            Value::Alarm(_) => "alarm id",
            Value::Shared(_) => "shared value",
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Undef, Undef) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) => a == b,
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (Session(a), Session(b)) => a == b,
            (Alarm(a), Alarm(b)) => a == b,
            (Shared(a), Shared(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Undef => write!(f, "Undef"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Float(x) => write!(f, "Float({x})"),
            Value::Str(s) => write!(f, "Str({s:?})"),
            Value::Bytes(b) => write!(f, "Bytes({:?})", String::from_utf8_lossy(b)),
            Value::List(l) => f.debug_tuple("List").field(l).finish(),
            Value::Map(m) => f.debug_tuple("Map").field(m).finish(),
            Value::Session(s) => write!(f, "Session({s})"),
            Value::Alarm(a) => write!(f, "Alarm({})", a.id()),
            Value::Shared(_) => write!(f, "Shared(..)"),
        }
    }
}

/// Perl-like interpolation: `undef` prints as `undef`, lists as `[a b]`,
/// bytes lossily as UTF-8.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Undef => f.write_str("undef"),
            Value::Bool(b) => write!(f, "{}", if *b { 1 } else { 0 }),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::Bytes(b) => f.write_str(&String::from_utf8_lossy(b)),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} => {v}")?;
                }
                f.write_str("}")
            }
            Value::Session(s) => write!(f, "{s}"),
            Value::Alarm(a) => write!(f, "{}", a.id()),
            Value::Shared(_) => f.write_str("SHARED"),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr;)*) => {$(
        impl From<$t> for Value {
            fn from($v: $t) -> Self { $e }
        }
    )*};
}

value_from! {
    () => |_v| Value::Undef;
    bool => |v| Value::Bool(v);
    i32 => |v| Value::Int(v.into());
    i64 => |v| Value::Int(v);
    u32 => |v| Value::Int(v.into());
    u64 => |v| Value::Int(v as i64);
    usize => |v| Value::Int(v as i64);
    f64 => |v| Value::Float(v);
    &str => |v| Value::Str(v.to_owned());
    String => |v| Value::Str(v);
    &String => |v| Value::Str(v.clone());
    Vec<u8> => |v| Value::Bytes(v);
    &[u8] => |v| Value::Bytes(v.to_vec());
    Vec<Value> => |v| Value::List(v);
    BTreeMap<String, Value> => |v| Value::Map(v);
    SessionId => |v| Value::Session(v);
    AlarmId => |v| Value::Alarm(v);
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Undef, Into::into)
    }
}

/// The error a handler may return; the kernel logs it and `call` returns it
/// inside [`Error::Handler`](crate::Error::Handler).
pub type HandlerError = Box<dyn std::error::Error + 'static>;

/// What a handler may return: anything that converts into a [`Value`]
/// (including `()`), or a `Result` of one, so that `?` works inside handlers.
pub trait HandlerReturn {
    /// Converts the handler's return into the kernel's form.
    fn into_return(self) -> Result<Value, HandlerError>;
}

impl<T: Into<Value>> HandlerReturn for T {
    fn into_return(self) -> Result<Value, HandlerError> {
        Ok(self.into())
    }
}

impl<T: Into<Value>, E: Into<HandlerError>> HandlerReturn for Result<T, E> {
    fn into_return(self) -> Result<Value, HandlerError> {
        self.map(Into::into).map_err(Into::into)
    }
}

/// Drops a dispatch's outcome that nobody reads. Most handlers return
/// `undef`, a boolean or a number: those are let go without running the
/// whole enum's drop code (an out-of-line call per event otherwise).
#[inline(always)]
pub(crate) fn discard(outcome: super::Outcome) {
    match &outcome {
        Ok(Value::Undef | Value::Bool(_) | Value::Int(_) | Value::Float(_)) => {
            // Nothing in these variants owns memory: forgetting is dropping.
            std::mem::forget(outcome)
        }
        _ => drop(outcome),
    }
}
