//! `Stackable` (POE::Filter::Stackable): filters in a pipeline.

use super::{Filter, FilterError};
use crate::Value;

/// Input flows through the filters first to last (each one's records are
/// the next one's chunks); output flows last to first. Filters can be
/// added and removed at either end.
///
/// ```
/// use rpoe::filter::{Filter, Line, Map, Stackable};
/// use rpoe::Value;
/// let upper = Map::get_put(
///     |v: Value| vec![Value::from(v.as_utf8().unwrap_or("").to_uppercase())],
///     |v| vec![v],
/// );
/// let mut st = Stackable::new(vec![
///     Box::new(Line::builder().literal("\n").build().unwrap()),
///     Box::new(upper),
/// ]);
/// let got = st.get(vec!["ab\ncd\nef".into()]).unwrap();
/// assert_eq!(got, ["AB".into(), "CD".into()]);
/// ```
pub struct Stackable {
    filters: Vec<Box<dyn Filter>>,
}

impl std::fmt::Debug for Stackable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stackable")
            .field("filters", &self.filters.len())
            .finish()
    }
}

impl Stackable {
    /// A pipeline of `filters`, input order (POE's `Filters => [...]`).
    pub fn new(filters: Vec<Box<dyn Filter>>) -> Self {
        Stackable { filters }
    }

    /// The filters' type names, input order (POE's `filter_types`).
    pub fn filter_types(&self) -> Vec<&'static str> {
        self.filters.iter().map(|f| f.type_name()).collect()
    }

    /// Adds a filter at the output end (POE's `push`).
    pub fn push(&mut self, filter: Box<dyn Filter>) {
        self.filters.push(filter);
    }

    /// Removes the filter at the output end (POE's `pop`).
    pub fn pop(&mut self) -> Option<Box<dyn Filter>> {
        self.filters.pop()
    }

    /// Adds a filter at the input end (POE's `unshift`).
    pub fn unshift(&mut self, filter: Box<dyn Filter>) {
        self.filters.insert(0, filter);
    }

    /// Removes the filter at the input end (POE's `shift`).
    pub fn shift(&mut self) -> Option<Box<dyn Filter>> {
        (!self.filters.is_empty()).then(|| self.filters.remove(0))
    }
}

impl Filter for Stackable {
    fn get_one_start(&mut self, chunks: Vec<Value>) -> Result<(), FilterError> {
        match self.filters.first_mut() {
            Some(f) => f.get_one_start(chunks),
            None => Ok(()),
        }
    }

    fn get_one_start_bytes(&mut self, bytes: &[u8]) -> Result<(), FilterError> {
        match self.filters.first_mut() {
            Some(f) => f.get_one_start_bytes(bytes),
            None => Ok(()),
        }
    }

    fn get_one(&mut self) -> Result<Option<Value>, FilterError> {
        // Pull from the output end; refill each stage from the one before.
        let n = self.filters.len();
        if n == 0 {
            return Ok(None);
        }
        loop {
            if let Some(r) = self.filters[n - 1].get_one()? {
                return Ok(Some(r));
            }
            // Find the last stage below the top that has a record to pass on.
            let mut moved = false;
            for i in (0..n - 1).rev() {
                if let Some(r) = self.filters[i].get_one()? {
                    self.filters[i + 1].get_one_start(vec![r])?;
                    moved = true;
                    break;
                }
            }
            if !moved {
                return Ok(None);
            }
        }
    }

    fn put(&mut self, records: Vec<Value>) -> Result<Vec<Value>, FilterError> {
        let mut data = records;
        for f in self.filters.iter_mut().rev() {
            if data.is_empty() {
                break;
            }
            data = f.put(data)?;
        }
        Ok(data)
    }

    /// Unlike POE's (which is lossy and in practice returns the last
    /// filter's pending data), this returns the first filter's: the raw
    /// data not yet framed, so that switching filters loses nothing.
    fn get_pending(&self) -> Option<Vec<Value>> {
        self.filters.first().and_then(|f| f.get_pending())
    }

    fn fresh(&self) -> Box<dyn Filter> {
        Box::new(Stackable {
            filters: self.filters.iter().map(|f| f.fresh()).collect(),
        })
    }
}
