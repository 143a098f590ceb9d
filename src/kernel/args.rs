//! `Args`: an event's arguments, read as POE's `ARG0 .. ARGn`.

use std::any::Any;
use std::fmt;
use std::mem::ManuallyDrop;
use std::rc::Rc;

use super::{AlarmId, SessionId, Value};

/// Index of the first event argument, as POE's `ARG0` (`$_[ARG0]`).
pub const ARG0: usize = 0;
/// Index of the second event argument (`$_[ARG1]`).
pub const ARG1: usize = 1;
/// Index of the third event argument (`$_[ARG2]`).
pub const ARG2: usize = 2;
/// Index of the fourth event argument (`$_[ARG3]`).
pub const ARG3: usize = 3;
/// Index of the fifth event argument (`$_[ARG4]`).
pub const ARG4: usize = 4;
/// Index of the sixth event argument (`$_[ARG5]`).
pub const ARG5: usize = 5;
/// Index of the seventh event argument (`$_[ARG6]`).
pub const ARG6: usize = 6;
/// Index of the eighth event argument (`$_[ARG7]`).
pub const ARG7: usize = 7;
/// Index of the ninth event argument (`$_[ARG8]`).
pub const ARG8: usize = 8;
/// Index of the tenth event argument (`$_[ARG9]`).
pub const ARG9: usize = 9;

/// Builds [`Args`] from any values that convert into [`Value`].
///
/// ```
/// use rpoe::{args, Value};
/// let a = args!["tick", 3, 0.5];
/// assert_eq!(a.len(), 3);
/// assert_eq!(a.get::<&str>(0).unwrap(), "tick");
/// assert_eq!(args![].len(), 0);
/// ```
#[macro_export]
macro_rules! args {
    () => { $crate::Args::new() };
    ($a:expr $(,)?) => { $crate::Args::one($a) };
    ($a:expr, $b:expr $(,)?) => { $crate::Args::two($a, $b) };
    ($($x:expr),+ $(,)?) => {{
        let mut args = $crate::Args::new();
        $(args.push($x);)+
        args
    }};
}

/// The arguments of one event: POE's `@_[ARG0 .. $#_]`.
///
/// Reading an argument that is missing or of another type is an
/// [`ArgError`], never a panic; handlers can use `?` on it.
///
/// ```
/// use rpoe::{args, ARG0, ARG1};
/// let a = args![7, "seven"];
/// let n: i64 = a.get(ARG0).unwrap();
/// let s: &str = a.get(ARG1).unwrap();
/// assert_eq!((n, s), (7, "seven"));
/// assert!(a.get::<&str>(ARG0).is_err());          // wrong type
/// assert!(a.get::<i64>(5).is_err());              // missing
/// assert_eq!(a.get::<Option<i64>>(5).unwrap(), None); // optional
/// ```
#[derive(Clone, Default)]
pub struct Args(Store);

/// Most events carry zero or one argument; those are stored inline, so
/// posting them allocates nothing. Two or more go to the heap.
///
/// Values are dropped by `Store`'s own `Drop` (every variant holds them in
/// `ManuallyDrop`, so there is no other drop code): numbers, `undef` and the
/// like go after an inline tag test, and only values that own memory go
/// through an out-of-line call. `Value`'s drop glue is an out-of-line call
/// that saves and restores six registers even for an integer (about 20
/// instructions per value, on every event).
#[derive(Clone, Default)]
enum Store {
    #[default]
    Empty,
    One(ManuallyDrop<Value>),
    /// Two values inline: events such as InputEvent `(record, id)` need no
    /// allocation for their arguments.
    Two(ManuallyDrop<[Value; 2]>),
    Heap(ManuallyDrop<Vec<Value>>),
}

impl Drop for Store {
    #[inline(always)]
    fn drop(&mut self) {
        if self.owns_memory() {
            drop_owned(std::mem::take(self));
        }
    }
}

impl Store {
    /// Whether dropping this frees anything.
    #[inline(always)]
    fn owns_memory(&self) -> bool {
        match self {
            Store::Empty => false,
            Store::One(v) => v.owns_memory(),
            Store::Two(v) => v[0].owns_memory() || v[1].owns_memory(),
            Store::Heap(_) => true,
        }
    }
}

/// Drops what a store owns, out of line, so the common drop (nothing
/// owned) is a few inline tests with no call and no saved registers.
#[inline(never)]
fn drop_owned(mut store: Store) {
    match &mut store {
        Store::Empty => {}
        Store::One(v) => drop(std::mem::take(&mut **v)),
        Store::Two(v) => drop(std::mem::take(&mut **v)),
        Store::Heap(v) => drop(std::mem::take(&mut **v)),
    }
    // What is left (undef, an empty vector) owns nothing; forgetting it
    // also keeps an emptied `Heap` from coming back here.
    std::mem::forget(store);
}

impl PartialEq for Args {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Args {
    /// No arguments (does not allocate).
    pub fn new() -> Self {
        Args(Store::default())
    }

    fn as_mut_slice(&mut self) -> &mut [Value] {
        match &mut self.0 {
            Store::Empty => &mut [],
            Store::One(v) => std::slice::from_mut(&mut **v),
            Store::Two(v) => &mut **v,
            Store::Heap(v) => v,
        }
    }

    /// How many arguments there are (POE's `$#_ - ARG0 + 1`).
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Reads argument `index` as `T` (an integer, `&str`, `SessionId`,
    /// `&Value`, `Option<T>`, ...).
    pub fn get<'a, T: FromArg<'a>>(&'a self, index: usize) -> Result<T, ArgError> {
        match self.as_slice().get(index) {
            None => T::missing().ok_or(ArgError {
                index,
                expected: T::EXPECTED,
                found: "nothing",
            }),
            Some(v) => T::from_arg(v).ok_or(ArgError {
                index,
                expected: T::EXPECTED,
                found: v.type_name(),
            }),
        }
    }

    /// Argument `index`, to change in place, if present.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Value> {
        self.as_mut_slice().get_mut(index)
    }

    /// The raw value of argument `index`, if present.
    pub fn value(&self, index: usize) -> Option<&Value> {
        self.as_slice().get(index)
    }

    /// Moves argument `index` out, leaving `Undef` behind (`Undef` if missing).
    pub fn take(&mut self, index: usize) -> Value {
        self.as_mut_slice()
            .get_mut(index)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Borrows a [`Value::Shared`] argument as `&T`.
    pub fn shared<T: Any>(&self, index: usize) -> Result<&T, ArgError> {
        let err = |found| ArgError {
            index,
            expected: std::any::type_name::<T>(),
            found,
        };
        match self.as_slice().get(index) {
            None => Err(err("nothing")),
            Some(Value::Shared(rc)) => rc
                .downcast_ref::<T>()
                .ok_or(err("shared value of another type")),
            Some(v) => Err(err(v.type_name())),
        }
    }

    /// Moves a [`Value::Shared`] argument out as `T`; fails (leaving it in
    /// place) if it is of another type or still shared elsewhere.
    pub fn take_shared<T: Any>(&mut self, index: usize) -> Result<T, ArgError> {
        self.shared::<T>(index)?;
        let Value::Shared(rc) = self.take(index) else {
            unreachable!("checked by shared() above")
        };
        let rc: Rc<T> = rc
            .downcast()
            .unwrap_or_else(|_| unreachable!("checked by shared() above"));
        Rc::try_unwrap(rc).map_err(|rc| {
            self.as_mut_slice()[index] = Value::Shared(rc);
            ArgError {
                index,
                expected: "an unshared value",
                found: "a value still shared elsewhere",
            }
        })
    }

    /// One argument (what `args![a]` builds), stored inline.
    #[inline]
    pub fn one(a: impl Into<Value>) -> Self {
        Args(Store::One(ManuallyDrop::new(a.into())))
    }

    /// Two arguments (what `args![a, b]` builds), stored inline.
    #[inline]
    pub fn two(a: impl Into<Value>, b: impl Into<Value>) -> Self {
        Args(Store::Two(ManuallyDrop::new([a.into(), b.into()])))
    }

    /// Appends an argument.
    pub fn push(&mut self, v: impl Into<Value>) {
        let v = v.into();
        match &mut self.0 {
            Store::Empty => self.0 = Store::One(ManuallyDrop::new(v)),
            Store::One(first) => {
                let first = std::mem::take(&mut **first);
                self.0 = Store::Two(ManuallyDrop::new([first, v]));
            }
            Store::Two(pair) => {
                let [a, b] = std::mem::take(&mut **pair);
                let mut heap = Vec::with_capacity(4);
                heap.extend([a, b, v]);
                self.0 = Store::Heap(ManuallyDrop::new(heap));
            }
            Store::Heap(heap) => heap.push(v),
        }
    }

    /// The arguments as a slice.
    pub fn as_slice(&self) -> &[Value] {
        match &self.0 {
            Store::Empty => &[],
            Store::One(v) => std::slice::from_ref(&**v),
            Store::Two(v) => &**v,
            Store::Heap(v) => v,
        }
    }

    /// Iterates over the arguments.
    pub fn iter(&self) -> std::slice::Iter<'_, Value> {
        self.as_slice().iter()
    }

    /// Takes every argument out, leaving none: `std::mem::take(args)`, for
    /// a handler given `&mut Args` ([`StateHandler`](crate::StateHandler))
    /// to pass on by value. No argument, or one that owns no memory (a
    /// number, `undef`, a session), is read field by field and rebuilt:
    /// moving the arguments whole reads them back in 16-byte pieces, which
    /// the CPU cannot forward from the 8-byte stores that have just built
    /// them, and waits for those stores to land.
    #[inline(always)]
    pub fn take_all(&mut self) -> Args {
        let one = match &self.0 {
            Store::Empty => return Args(Store::Empty),
            Store::One(v) => match **v {
                Value::Undef => Value::Undef,
                Value::Bool(b) => Value::Bool(b),
                Value::Int(i) => Value::Int(i),
                Value::Float(f) => Value::Float(f),
                Value::Session(s) => Value::Session(s),
                _ => return std::mem::take(self),
            },
            _ => return std::mem::take(self),
        };
        // What is left owns nothing: no drop code for it.
        std::mem::forget(std::mem::replace(&mut self.0, Store::Empty));
        Args::one(one)
    }

    /// The arguments as a vector.
    pub fn into_vec(mut self) -> Vec<Value> {
        match &mut self.0 {
            Store::Empty => Vec::new(),
            Store::One(v) => vec![std::mem::take(&mut **v)],
            Store::Two(v) => std::mem::take(&mut **v).into(),
            Store::Heap(v) => std::mem::take(&mut **v),
        }
    }
}

impl From<Vec<Value>> for Args {
    fn from(v: Vec<Value>) -> Self {
        Args(Store::Heap(ManuallyDrop::new(v)))
    }
}

impl From<Args> for Value {
    fn from(a: Args) -> Self {
        Value::List(a.into_vec())
    }
}

impl IntoIterator for Args {
    type Item = Value;
    type IntoIter = std::vec::IntoIter<Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl Extend<Value> for Args {
    fn extend<I: IntoIterator<Item = Value>>(&mut self, iter: I) {
        for v in iter {
            self.push(v);
        }
    }
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// A missing or mistyped event argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// Which argument (0 = ARG0).
    pub index: usize,
    /// What the handler asked for.
    pub expected: &'static str,
    /// What was there.
    pub found: &'static str,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ARG{}: expected {}, found {}",
            self.index, self.expected, self.found
        )
    }
}

impl std::error::Error for ArgError {}

/// Types an argument can be read as with [`Args::get`].
pub trait FromArg<'a>: Sized {
    /// What this type is called in an [`ArgError`].
    const EXPECTED: &'static str;
    /// Reads the value, or `None` if it has another type.
    fn from_arg(v: &'a Value) -> Option<Self>;
    /// What a missing argument reads as (`None`: an error).
    fn missing() -> Option<Self> {
        None
    }
}

macro_rules! from_arg {
    ($($t:ty, $name:literal, |$v:ident| $e:expr;)*) => {$(
        impl<'a> FromArg<'a> for $t {
            const EXPECTED: &'static str = $name;
            fn from_arg($v: &'a Value) -> Option<Self> { $e }
        }
    )*};
}

from_arg! {
    i64, "integer", |v| v.as_int();
    i32, "integer", |v| v.as_int().and_then(|i| i.try_into().ok());
    u32, "integer", |v| v.as_int().and_then(|i| i.try_into().ok());
    u64, "integer", |v| v.as_int().and_then(|i| i.try_into().ok());
    usize, "integer", |v| v.as_int().and_then(|i| i.try_into().ok());
    f64, "number", |v| match v { Value::Float(x) => Some(*x), Value::Int(i) => Some(*i as f64), _ => None };
    bool, "bool", |v| match v { Value::Bool(b) => Some(*b), _ => None };
    &'a str, "string", |v| v.as_str();
    String, "string", |v| v.as_str().map(str::to_owned);
    &'a [u8], "bytes", |v| match v { Value::Bytes(b) => Some(b.as_slice()), Value::Str(s) => Some(s.as_bytes()), _ => None };
    &'a [Value], "list", |v| v.as_list();
    SessionId, "session", |v| v.as_session();
    AlarmId, "alarm id", |v| match v { Value::Alarm(a) => Some(*a), _ => None };
    &'a Value, "any value", |v| Some(v);
    Value, "any value", |v| Some(v.clone());
}

impl<'a, T: FromArg<'a>> FromArg<'a> for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_arg(v: &'a Value) -> Option<Self> {
        if v.is_undef() {
            Some(None)
        } else {
            T::from_arg(v).map(Some)
        }
    }
    fn missing() -> Option<Self> {
        Some(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared value and a handle that counts its owners.
    fn counted() -> (Value, Rc<dyn Any>) {
        let rc: Rc<dyn Any> = Rc::new(7u8);
        (Value::Shared(rc.clone()), rc)
    }

    /// `take_all` is `mem::take` in every shape: the same values come out
    /// in order, none is left behind, and an owned value is moved, not
    /// copied or dropped (its owner count does not change).
    #[test]
    fn take_all_moves_every_shape_out() {
        let (shared, handle) = counted();
        let shapes: Vec<Vec<Value>> = vec![
            vec![],
            vec![Value::Undef],
            vec![Value::Bool(true)],
            vec![Value::Int(-3)],
            vec![Value::Float(2.5)],
            vec![Value::Session(SessionId::KERNEL)],
            vec![Value::Str("one".into())],
            vec![shared],
            vec![Value::Int(1), Value::Str("two".into())],
            vec![Value::Int(1), Value::Int(2), Value::Int(3)],
        ];
        for shape in shapes {
            let mut args = Args::new();
            for v in &shape {
                args.push(v.clone());
            }
            let want = format!("{:?}", args.as_slice());
            let owners = Rc::strong_count(&handle);
            let taken = args.take_all();
            assert!(args.is_empty(), "{want}: left behind");
            assert_eq!(format!("{:?}", taken.as_slice()), want);
            assert_eq!(Rc::strong_count(&handle), owners, "{want}: owners");
        }
    }

    /// Pins the hand-written drop of inline arguments: whatever shape the
    /// arguments take (one, two, on the heap; after take, push, clone and
    /// into_vec), every owned value is dropped exactly once and plain
    /// values need no drop.
    #[test]
    fn owned_arguments_are_dropped_once_in_every_shape() {
        for n in 1..=4 {
            let (values, handles): (Vec<Value>, Vec<Rc<dyn Any>>) =
                (0..n).map(|_| counted()).unzip();
            let mut args = Args::new();
            for v in values {
                args.push(v);
                args.push(Value::Int(1));
            }
            assert!(
                handles.iter().all(|h| Rc::strong_count(h) == 2),
                "n={n}: pushed"
            );
            let copy = args.clone();
            assert!(
                handles.iter().all(|h| Rc::strong_count(h) == 3),
                "n={n}: cloned"
            );
            drop(copy);
            let taken = args.take(0);
            assert_eq!(Rc::strong_count(&handles[0]), 2, "n={n}: taken");
            drop(args);
            assert!(
                handles[1..].iter().all(|h| Rc::strong_count(h) == 1),
                "n={n}: dropped"
            );
            assert_eq!(Rc::strong_count(&handles[0]), 2, "n={n}: taken value kept");
            drop(taken);
            assert_eq!(
                Rc::strong_count(&handles[0]),
                1,
                "n={n}: taken value dropped"
            );
        }
        let (a, ha) = counted();
        let (b, hb) = counted();
        let v = Args::two(a, b).into_vec();
        assert_eq!((Rc::strong_count(&ha), Rc::strong_count(&hb)), (2, 2));
        drop(v);
        assert_eq!((Rc::strong_count(&ha), Rc::strong_count(&hb)), (1, 1));
        let (a, ha) = counted();
        drop(Args::one(a));
        assert_eq!(Rc::strong_count(&ha), 1);
        let (a, ha) = counted();
        drop(Args::two(Value::Int(3), a));
        assert_eq!(Rc::strong_count(&ha), 1);
        // Plain values and strings in every slot.
        drop(Args::two(Value::Str("x".repeat(100)), Value::Undef));
        drop(Args::one(Value::List(vec![Value::Str("y".into()); 3])));
    }
}
