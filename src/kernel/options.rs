//! Session options (POE's `options => {...}` and `$session->option`):
//! `trace` logs every dispatch to the session at info level, `default` logs
//! a warning for events it has no handler for; other names are stored for
//! the program's own use.

use std::collections::BTreeMap;

use super::core::Core;
use super::ctx::KernelHandle;
use super::{SessionId, Value};

/// POE's normalisation: "on", "yes", "true" become 1; "no", "off", "false" 0.
pub(crate) fn normalise(v: Value) -> Value {
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("on" | "yes" | "true") => Value::Int(1),
        Some("no" | "off" | "false") => Value::Int(0),
        _ => v,
    }
}

/// Whether an option value is true in Perl's sense.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Undef => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(x) => *x != 0.0,
        Value::Str(s) => !s.is_empty() && s != "0",
        _ => true,
    }
}

impl Core {
    pub(crate) fn set_option(&mut self, sid: SessionId, name: &str, value: Value) -> Option<Value> {
        let entry = self.entry_mut(sid)?;
        let was_traced = entry.option("trace").is_some_and(truthy);
        let options = &mut entry.extras_mut().options;
        let old = if value.is_undef() {
            options.remove(name)
        } else {
            options.insert(name.to_owned(), normalise(value))
        };
        let traced = entry.option("trace").is_some_and(truthy);
        match (was_traced, traced) {
            (false, true) => self.traced_sessions += 1,
            (true, false) => self.traced_sessions -= 1,
            _ => {}
        }
        old
    }

    pub(crate) fn option_is_set(&self, sid: SessionId, name: &str) -> bool {
        self.entry(sid)
            .and_then(|e| e.option(name))
            .is_some_and(truthy)
    }
}

impl KernelHandle<'_> {
    /// Sets one of this session's options and returns its old value (POE's
    /// `$_[SESSION]->option(name => value)`); `Undef` deletes it.
    pub fn option(&mut self, name: &str, value: impl Into<Value>) -> Option<Value> {
        let me = self.frame.session;
        self.core.set_option(me, name, value.into())
    }

    /// Reads one of this session's options (POE's `->option('name')`).
    pub fn option_get(&self, name: &str) -> Option<Value> {
        self.core.entry(self.frame.session)?.option(name).cloned()
    }

    /// All of this session's options.
    pub fn options(&self) -> BTreeMap<String, Value> {
        self.core
            .entry(self.frame.session)
            .and_then(|e| e.extras.as_ref().map(|x| x.options.clone()))
            .unwrap_or_default()
    }
}
