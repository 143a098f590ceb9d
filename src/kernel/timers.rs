//! Timers: POE's alarm and delay family (SPEC §3.2), kept in the kernel
//! queue by due time.
//!
//! Timers keep their session alive and fire in due-time order, equal due
//! times in the order they were set; a past-due timer overtakes queued posts
//! (SPEC §1.2). Setting, removing or adjusting one costs O(log n).
//!
//! Due times are kernel time (monotonic). `alarm*` take a wall-clock epoch,
//! converted once, when set, against the wall clock at that moment: a later
//! jump of the wall clock does not move the timer, which fires when the
//! monotonic clock reaches it (POE's timers would follow the jump). The wall
//! time POE reports back (by `alarm_remove`, `alarm_adjust`) is kept with
//! each timer, as POE keeps it.

use super::clock::secs_to_nanos;
use super::ctx::{Ctx, KernelHandle};
use super::queue::{Event, Kind};
use super::select::erase_handler;
use super::{AlarmId, Args, Error, EventName, HandlerReturn, Value};

/// Why a session may not touch another's timer.
const NOT_OWNER: &str = "the alarm belongs to another session";

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
    /// The kernel clock's wall time in seconds since the Unix epoch (what a
    /// POE program reads with `Time::HiRes::time`); virtual on a virtual
    /// kernel. Use it to compute `alarm` times.
    pub fn time(&self) -> f64 {
        self.core.clock.wall()
    }

    /// Sets a timer due `wall` (epoch seconds), `secs_from_now` seconds
    /// from now in kernel time.
    fn set_timer(
        &mut self,
        event: EventName,
        secs_from_now: f64,
        wall: f64,
        args: Args,
    ) -> AlarmId {
        self.set_timer_kind(event, secs_from_now, wall, args, Kind::Timer(0))
    }

    #[inline]
    pub(crate) fn set_timer_kind(
        &mut self,
        event: EventName,
        secs_from_now: f64,
        wall: f64,
        args: Args,
        kind: Kind,
    ) -> AlarmId {
        let now = self.core.clock.now();
        self.core.now = now;
        let due = now.saturating_add(secs_to_nanos(secs_from_now));
        let me = self.frame.session;
        let caller_state = self.frame.active_event().cloned();
        self.core.enqueue_timer(
            due,
            wall,
            Event {
                dest: me,
                source: me,
                name: event,
                args,
                kind,
                caller_state,
            },
        )
    }

    fn set_alarm(&mut self, event: EventName, epoch: f64, args: Args) -> AlarmId {
        let wall_now = self.core.clock.wall();
        // An f64 epoch near 1.7e9 s resolves about 0.24 us: convert at
        // microsecond precision, so `alarm(time() + 0.2)` and `delay(0.2)` set
        // at the same moment fall due at the same instant.
        let secs = ((epoch - wall_now) * 1e6).round() / 1e6;
        self.set_timer(event, secs, epoch, args)
    }

    fn set_delay(&mut self, event: EventName, seconds: f64, args: Args) -> AlarmId {
        let wall = self.core.clock.wall() + seconds;
        self.set_timer(event, seconds, wall, args)
    }

    /// Removes this session's timers named `event`, however they were set.
    fn clear_timers_named(&mut self, event: &str) {
        let me = self.frame.session;
        let Some(entry) = self.core.entry(me) else {
            return;
        };
        let ids: Vec<AlarmId> = entry.alarms.ids().collect();
        for id in ids {
            if self
                .core
                .queue
                .alarm_name(id)
                .is_some_and(|n| n.as_str() == event)
            {
                if let Some(t) = self.core.queue.remove_alarm(id) {
                    self.core.release(&t.ev);
                }
            }
        }
    }

    /// Sets a timer at `epoch` (seconds since the Unix epoch) after removing
    /// this session's timers with the same name (POE's
    /// `alarm(event => $epoch, @args)`). A past time fires at the next
    /// dispatch, ahead of queued posts.
    pub fn alarm(&mut self, event: impl Into<EventName>, epoch: f64, args: Args) {
        let event = event.into();
        self.clear_timers_named(event.as_str());
        self.set_alarm(event, epoch, args);
    }

    /// Removes this session's timers named `event` (POE's `alarm(event)`
    /// without a time).
    pub fn alarm_clear(&mut self, event: &str) {
        self.clear_timers_named(event);
    }

    /// Adds a timer at `epoch`, leaving others of the same name (POE's
    /// `alarm_add`).
    pub fn alarm_add(&mut self, event: impl Into<EventName>, epoch: f64, args: Args) {
        self.set_alarm(event.into(), epoch, args);
    }

    /// Adds a timer at `epoch` and returns its id (POE's `alarm_set`).
    pub fn alarm_set(&mut self, event: impl Into<EventName>, epoch: f64, args: Args) -> AlarmId {
        self.set_alarm(event.into(), epoch, args)
    }

    /// Sets a timer `seconds` from now after removing this session's
    /// timers with the same name (POE's `delay(event => seconds, @args)`).
    pub fn delay(&mut self, event: impl Into<EventName>, seconds: f64, args: Args) {
        let event = event.into();
        self.clear_timers_named(event.as_str());
        self.set_delay(event, seconds, args);
    }

    /// Removes this session's timers named `event` (POE's `delay(event)`
    /// without a time); the same as [`alarm_clear`](Self::alarm_clear).
    pub fn delay_clear(&mut self, event: &str) {
        self.clear_timers_named(event);
    }

    /// Adds a timer `seconds` from now, leaving others of the same name
    /// (POE's `delay_add`).
    pub fn delay_add(&mut self, event: impl Into<EventName>, seconds: f64, args: Args) {
        self.set_delay(event.into(), seconds, args);
    }

    /// Adds a timer `seconds` from now and returns its id (POE's `delay_set`).
    pub fn delay_set(&mut self, event: impl Into<EventName>, seconds: f64, args: Args) -> AlarmId {
        self.set_delay(event.into(), seconds, args)
    }

    /// Checks that `id` is a queued timer of this session.
    fn own_alarm(&self, id: AlarmId) -> Result<(), Error> {
        match self.core.queue.alarm_owner(id) {
            None => Err(Error::NoSuchAlarm),
            Some(owner) if owner != self.frame.session => Err(Error::NotPermitted(NOT_OWNER)),
            Some(_) => Ok(()),
        }
    }

    /// Moves one of this session's timers by `delta` seconds (POE's
    /// `alarm_adjust`) and returns its new due time (epoch seconds). It goes
    /// after timers already due at the new time.
    ///
    /// # Errors
    /// [`Error::NoSuchAlarm`] for an unknown id, [`Error::NotPermitted`]
    /// for another session's timer (POE: `undef` for both).
    pub fn alarm_adjust(&mut self, id: AlarmId, delta: f64) -> Result<f64, Error> {
        self.own_alarm(id)?;
        let (key, timer) = self.core.queue.alarm(id).ok_or(Error::NoSuchAlarm)?;
        let wall = timer.wall + delta;
        let due = key.0.saturating_add(secs_to_nanos(delta));
        self.core.queue.move_alarm(id, due, wall);
        Ok(wall)
    }

    /// Moves one of this session's timers to `seconds` from now (POE's
    /// `delay_adjust`) and returns its new due time (epoch seconds).
    ///
    /// # Errors
    /// As [`alarm_adjust`](Self::alarm_adjust).
    pub fn delay_adjust(&mut self, id: AlarmId, seconds: f64) -> Result<f64, Error> {
        self.own_alarm(id)?;
        let now = self.core.clock.now();
        self.core.now = now;
        let wall = self.core.clock.wall() + seconds;
        self.core
            .queue
            .move_alarm(id, now.saturating_add(secs_to_nanos(seconds)), wall);
        Ok(wall)
    }

    /// Removes one of this session's timers by id and returns it (POE's
    /// `alarm_remove`).
    ///
    /// # Errors
    /// [`Error::NoSuchAlarm`] for an unknown id (ESRCH),
    /// [`Error::NotPermitted`] for another session's timer (EPERM).
    #[inline]
    pub fn alarm_remove(&mut self, id: AlarmId) -> Result<RemovedAlarm, Error> {
        let me = self.frame.session;
        let timer = match self.core.queue.remove_alarm_if(id, |ev| ev.dest == me) {
            Ok(timer) => timer,
            Err(true) => return Err(Error::NotPermitted(NOT_OWNER)),
            Err(false) => return Err(Error::NoSuchAlarm),
        };
        self.core.release(&timer.ev);
        Ok(RemovedAlarm {
            name: timer.ev.name,
            due: timer.wall,
            args: timer.ev.args,
        })
    }

    /// Removes all of this session's timers and returns them in the order
    /// they were set (POE's `alarm_remove_all`; POE flattens each record's
    /// arguments into it, rpoe keeps them in `args`).
    pub fn alarm_remove_all(&mut self) -> Vec<RemovedAlarm> {
        let me = self.frame.session;
        let Some(entry) = self.core.entry(me) else {
            return Vec::new();
        };
        let ids: Vec<AlarmId> = entry.alarms.ids().collect();
        ids.into_iter()
            .filter_map(|id| self.alarm_remove(id).ok())
            .collect()
    }
}

impl<H: 'static> Ctx<'_, H> {
    /// A delay whose handler is given here rather than a named state (POE's
    /// `$kernel->state($name, $code)` then `delay_set($name, ...)`, as
    /// wheels do): `handler` runs as STATE `name` after `seconds`. The
    /// timer is an ordinary alarm of the session: `alarm_remove` and
    /// `alarm_remove_all` reach it.
    pub fn delay_set_state<F, R>(
        &mut self,
        name: impl Into<EventName>,
        seconds: f64,
        args: Args,
        handler: F,
    ) -> AlarmId
    where
        F: Fn(&mut Ctx<'_, H>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        let mut all = Args::new();
        all.push(Value::Shared(erase_handler(handler)));
        all.extend(args.iter().cloned());
        let wall = self.kernel.core.clock.wall() + seconds;
        self.kernel
            .set_timer_kind(name.into(), seconds, wall, all, Kind::StateTimer(0))
    }
}

/// One session's timer ids, in the order they were set (ids only grow).
///
/// Setting a timer appends its id; a timer that fires or is removed only
/// lowers the live count, leaving its id behind. Readers skip ids that no
/// longer name one of the session's queued timers (an id is never reused),
/// and the list is compacted when it holds twice as many ids as live
/// timers: O(1) per timer, where a hash set cost two hash updates.
///
/// Kept out of line (one word in the session's record), made at the
/// session's first timer: most sessions never set one, and each session
/// record is written, scanned and freed with every session.
#[derive(Debug, Default)]
pub(crate) struct SessionAlarms(Option<Box<AlarmList>>);

#[derive(Debug, Default)]
struct AlarmList {
    ids: Vec<AlarmId>,
    live: usize,
}

impl SessionAlarms {
    /// Records a new timer; `alive` says whether an older id still names a
    /// queued timer of the session (used when compacting).
    #[inline]
    pub fn add(&mut self, id: AlarmId, alive: impl Fn(AlarmId) -> bool) {
        let list = self.0.get_or_insert_with(Box::default);
        if list.ids.len() >= 2 * list.live + 16 {
            list.ids.retain(|&id| alive(id));
        }
        list.ids.push(id);
        list.live += 1;
    }

    /// One of the session's timers fired or was removed.
    #[inline]
    pub fn released(&mut self) {
        if let Some(list) = self.0.as_mut() {
            list.live = list.live.saturating_sub(1);
        }
    }

    /// The ids recorded, oldest first; some may name timers that are gone.
    pub fn ids(&self) -> impl Iterator<Item = AlarmId> + '_ {
        self.0.iter().flat_map(|list| list.ids.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A session that keeps re-arming one timer keeps a short list, and the
    /// list still holds every live id, in order.
    #[test]
    fn session_alarms_stay_short_and_complete() {
        let mut a = SessionAlarms::default();
        let mut live: BTreeSet<u64> = BTreeSet::new();
        for id in 1..=100_000u64 {
            // Keep ids divisible by 1000 alive; release the others soon.
            a.add(AlarmId::from_id(id), |x| live.contains(&x.id()));
            live.insert(id);
            if id % 1000 != 0 {
                live.remove(&id);
                a.released();
            }
            assert!(a.ids().count() <= 2 * live.len() + 17, "at {id}");
        }
        let recorded: Vec<u64> = a
            .ids()
            .map(|x| x.id())
            .filter(|x| live.contains(x))
            .collect();
        assert_eq!(recorded, live.iter().copied().collect::<Vec<_>>());
    }
}
