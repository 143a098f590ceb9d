//! `Grep` (POE::Filter::Grep): keeps the records a predicate accepts.

use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use super::{Filter, FilterError};
use crate::Value;

type Pred = Rc<dyn Fn(&Value) -> bool>;

/// Passes through the records for which its predicate holds, in both
/// directions (POE's `Code`), or with separate predicates for input and
/// output (POE's `Get` and `Put`). No limit (as POE's).
///
/// ```
/// use rpoe::filter::{Filter, Grep};
/// let mut g = Grep::new(|v| v.as_utf8().is_some_and(|s| s.starts_with('k')));
/// let got = g.get(vec!["kx".into(), "no".into(), "ky".into()]).unwrap();
/// assert_eq!(got, ["kx".into(), "ky".into()]);
/// ```
#[derive(Clone)]
pub struct Grep {
    get: Pred,
    put: Pred,
    pending: VecDeque<Value>,
}

impl fmt::Debug for Grep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grep")
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Grep {
    /// One predicate for both directions (POE's `Code`).
    pub fn new(code: impl Fn(&Value) -> bool + 'static) -> Self {
        let code: Pred = Rc::new(code);
        Grep {
            get: code.clone(),
            put: code,
            pending: VecDeque::new(),
        }
    }

    /// Separate predicates for input and output (POE's `Get`, `Put`).
    pub fn get_put(
        get: impl Fn(&Value) -> bool + 'static,
        put: impl Fn(&Value) -> bool + 'static,
    ) -> Self {
        Grep {
            get: Rc::new(get),
            put: Rc::new(put),
            pending: VecDeque::new(),
        }
    }
}

impl Filter for Grep {
    fn get_one_start(&mut self, chunks: Vec<Value>) -> Result<(), FilterError> {
        self.pending.extend(chunks);
        Ok(())
    }

    fn get_one(&mut self) -> Result<Option<Value>, FilterError> {
        while let Some(r) = self.pending.pop_front() {
            if (self.get)(&r) {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    fn put(&mut self, records: Vec<Value>) -> Result<Vec<Value>, FilterError> {
        Ok(records.into_iter().filter(|r| (self.put)(r)).collect())
    }

    fn get_pending(&self) -> Option<Vec<Value>> {
        (!self.pending.is_empty()).then(|| self.pending.iter().cloned().collect())
    }

    fn fresh(&self) -> Box<dyn Filter> {
        let mut f = self.clone();
        f.pending.clear();
        Box::new(f)
    }
}
