//! Timers: POE's `delay` family, kept in the kernel queue by due time.
//!
//! Timers keep their session alive and fire in due-time order, equal due
//! times in the order they were set; a past-due timer overtakes queued posts
//! (SPEC §1.2).

use super::clock::secs_to_nanos;
use super::ctx::KernelHandle;
use super::queue::{Event, Kind};
use super::{AlarmId, Args, Error, EventName};

/// A timer taken off the queue by [`alarm_remove`](KernelHandle::alarm_remove):
/// POE's `(name, time, \@args)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RemovedAlarm {
    /// The event the timer would have sent.
    pub name: EventName,
    /// When it was due, in seconds since the Unix epoch (POE's times).
    pub due: f64,
    /// Its arguments.
    pub args: Args,
}

impl KernelHandle<'_> {
    fn set_timer(&mut self, event: EventName, seconds: f64, args: Args) -> AlarmId {
        let now = self.core.clock.now();
        self.core.now = now;
        let due = now.saturating_add(secs_to_nanos(seconds));
        let me = self.frame.session;
        let caller_state = self.frame.active_event.clone();
        self.core.enqueue_timer(
            due,
            Event {
                dest: me,
                source: me,
                name: event,
                args,
                kind: Kind::Timer(AlarmId(0)),
                caller_state,
            },
        )
    }

    fn clear_timers_named(&mut self, event: &str) {
        let me = self.frame.session;
        let Some(entry) = self.core.entry(me) else {
            return;
        };
        let ids: Vec<AlarmId> = entry.alarms.iter().copied().collect();
        for id in ids {
            if self
                .core
                .queue
                .alarm_name(id)
                .is_some_and(|n| n.as_str() == event)
            {
                if let Some((_, ev)) = self.core.queue.remove_alarm(id) {
                    self.core.release(&ev);
                }
            }
        }
    }

    /// Sets a timer `seconds` from now after removing this session's
    /// timers with the same name (POE's `delay(event => seconds, @args)`).
    pub fn delay(&mut self, event: impl Into<EventName>, seconds: f64, args: Args) {
        let event = event.into();
        self.clear_timers_named(event.as_str());
        self.set_timer(event, seconds, args);
    }

    /// Removes this session's timers named `event` (POE's `delay(event)`
    /// without a time).
    pub fn delay_clear(&mut self, event: &str) {
        self.clear_timers_named(event);
    }

    /// Adds a timer `seconds` from now, leaving others of the same name
    /// (POE's `delay_add`).
    pub fn delay_add(&mut self, event: impl Into<EventName>, seconds: f64, args: Args) {
        self.set_timer(event.into(), seconds, args);
    }

    /// Adds a timer `seconds` from now and returns its id (POE's `delay_set`).
    pub fn delay_set(&mut self, event: impl Into<EventName>, seconds: f64, args: Args) -> AlarmId {
        self.set_timer(event.into(), seconds, args)
    }

    /// Removes one of this session's timers by id and returns it (POE's
    /// `alarm_remove`).
    ///
    /// # Errors
    /// [`Error::NoSuchAlarm`] for an unknown id (ESRCH),
    /// [`Error::NotPermitted`] for another session's timer (EPERM).
    pub fn alarm_remove(&mut self, id: AlarmId) -> Result<RemovedAlarm, Error> {
        let owner = self.core.queue.alarm_owner(id).ok_or(Error::NoSuchAlarm)?;
        if owner != self.frame.session {
            return Err(Error::NotPermitted("the alarm belongs to another session"));
        }
        let (key, ev) = self.core.queue.remove_alarm(id).ok_or(Error::NoSuchAlarm)?;
        self.core.release(&ev);
        Ok(RemovedAlarm {
            name: ev.name,
            due: self.core.clock.to_epoch_secs(key.0),
            args: ev.args,
        })
    }

    /// Removes all of this session's timers and returns them (POE's
    /// `alarm_remove_all`).
    pub fn alarm_remove_all(&mut self) -> Vec<RemovedAlarm> {
        let me = self.frame.session;
        let Some(entry) = self.core.entry(me) else {
            return Vec::new();
        };
        let mut ids: Vec<AlarmId> = entry.alarms.iter().copied().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| self.alarm_remove(id).ok())
            .collect()
    }
}
