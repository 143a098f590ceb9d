//! `Map` (POE::Filter::Map): transforms each record into zero or more.

use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use super::{Filter, FilterError};
use crate::Value;

type MapFn = Rc<dyn Fn(Value) -> Vec<Value>>;

/// Maps each record to a list of records, in both directions (POE's
/// `Code`) or with separate functions (`Get`, `Put`). As in POE, a record
/// that maps to nothing on input ends that `get`: the records after it stay
/// pending until the next call. No limit (as POE's).
///
/// ```
/// use rpoe::filter::{Filter, Map};
/// use rpoe::Value;
/// let upper = |v: Value| vec![Value::from(v.as_utf8().unwrap_or("").to_uppercase())];
/// let mut m = Map::get_put(upper, |v| vec![v]);
/// assert_eq!(m.get(vec!["a".into(), "b".into()]).unwrap(), ["A".into(), "B".into()]);
/// ```
#[derive(Clone)]
pub struct Map {
    get: MapFn,
    put: MapFn,
    pending: VecDeque<Value>,
    ready: VecDeque<Value>,
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Map {
    /// One function for both directions (POE's `Code`).
    pub fn new(code: impl Fn(Value) -> Vec<Value> + 'static) -> Self {
        let code: MapFn = Rc::new(code);
        Map {
            get: code.clone(),
            put: code,
            pending: VecDeque::new(),
            ready: VecDeque::new(),
        }
    }

    /// Separate functions for input and output (POE's `Get`, `Put`).
    pub fn get_put(
        get: impl Fn(Value) -> Vec<Value> + 'static,
        put: impl Fn(Value) -> Vec<Value> + 'static,
    ) -> Self {
        Map {
            get: Rc::new(get),
            put: Rc::new(put),
            pending: VecDeque::new(),
            ready: VecDeque::new(),
        }
    }
}

impl Filter for Map {
    fn get_one_start(&mut self, chunks: Vec<Value>) -> Result<(), FilterError> {
        self.pending.extend(chunks);
        Ok(())
    }

    fn get_one(&mut self) -> Result<Option<Value>, FilterError> {
        if let Some(r) = self.ready.pop_front() {
            return Ok(Some(r));
        }
        let Some(r) = self.pending.pop_front() else {
            return Ok(None);
        };
        self.ready.extend((self.get)(r));
        Ok(self.ready.pop_front())
    }

    fn put(&mut self, records: Vec<Value>) -> Result<Vec<Value>, FilterError> {
        Ok(records.into_iter().flat_map(|r| (self.put)(r)).collect())
    }

    fn get_pending(&self) -> Option<Vec<Value>> {
        let all: Vec<Value> = self.ready.iter().chain(&self.pending).cloned().collect();
        (!all.is_empty()).then_some(all)
    }

    fn fresh(&self) -> Box<dyn Filter> {
        let mut f = self.clone();
        f.pending.clear();
        f.ready.clear();
        Box::new(f)
    }
}
