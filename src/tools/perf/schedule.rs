//! The fixed-rate schedule of `weir perf produce --rate` and `weir perf e2e`: record `n` is due at
//! `start + n / rate`, and its latency is measured from that due time, so a stalled broker shows as
//! latency instead of quietly lowering the load (no coordinated omission).
//!
//! Records are released in small groups: the sending thread wakes at most once per
//! [`RELEASE_TICK`], hands every record that is due to the client, and sleeps again. It never
//! busy-waits: a spinning sender on a pinned core starves the client library's own threads, and
//! the tail it then reports is the harness's, not the broker's (issue: a fixed-rate run at 4,883
//! records/s used 57% of its core and at 48,828 records/s reported p99 589 ms instead of ~1 ms).

use std::time::{Duration, Instant};

/// The shortest sleep between two wake-ups. A record is released at most this much after its
/// due time (plus the kernel's wake-up delay; see [`RealClock`]), and the sender wakes at most
/// 10,000 times a second whatever the rate. At 50,000 records/s a wake-up releases about 5.
pub const RELEASE_TICK: Duration = Duration::from_micros(100);

/// When each record of a run is due.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    /// Records per second; `None` is flat out: every record is due as soon as it can be sent.
    rate: Option<f64>,
}

/// One record handed to the sender: its place in the schedule, when it was due, and when the
/// schedule released it (the wake-up's time, at or after `due`).
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub index: u64,
    pub due: Instant,
    pub released: Instant,
}

/// What the sender says after being handed a due record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    Sent,
    /// The quota is reached: this record was not sent and the run ends.
    Stop,
}

/// The time source and the sleep of a schedule: the real clock in runs, a simulated one in
/// tests.
pub trait Clock {
    fn now(&self) -> Instant;
    fn sleep_until(&mut self, at: Instant);
}

impl Schedule {
    pub fn new(start: Instant, rate: Option<f64>) -> Self {
        Schedule { start, rate }
    }

    /// When record number `index` (from 0) is due; `now` when flat out.
    pub fn due_time(&self, index: u64, now: Instant) -> Instant {
        match self.rate {
            Some(rate) => self.start + Duration::from_secs_f64(index as f64 / rate),
            None => now,
        }
    }

    /// Drives the schedule: hands `send` each record once it is due, in order, until `send`
    /// says [`Release::Stop`]. Returns how many records were sent.
    pub fn run(&self, clock: &mut impl Clock, mut send: impl FnMut(Slot) -> Release) -> u64 {
        let mut sent = 0u64;
        loop {
            let now = clock.now();
            // Every record due by now goes out in this wake-up.
            loop {
                let due = self.due_time(sent, now);
                if due > now {
                    break;
                }
                let slot = Slot {
                    index: sent,
                    due,
                    released: now,
                };
                match send(slot) {
                    Release::Sent => sent += 1,
                    Release::Stop => return sent,
                }
            }
            // Sleep until the next record is due, but at least one tick: at high rates several
            // records then leave together, each still stamped with its own due time.
            let next_due = self.due_time(sent, now);
            clock.sleep_until(next_due.max(now + RELEASE_TICK));
        }
    }
}

/// The machine's monotonic clock and `nanosleep`.
pub struct RealClock;

impl RealClock {
    /// Also narrows this thread's timer slack (PR_SET_TIMERSLACK) from Linux's default 50 µs to
    /// 1 µs, so that a 100 µs sleep ends close to 100 µs; it changes nothing else.
    pub fn for_this_thread() -> Self {
        // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only affects this thread's
        // timer expiry; a failure leaves the default slack, which is harmless.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong);
        }
        RealClock
    }
}

impl Clock for RealClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&mut self, at: Instant) {
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock whose sleeps end exactly on time: what the schedule decides, without the kernel.
    struct SimulatedClock {
        now: Instant,
        wakeups: u64,
    }

    impl Clock for SimulatedClock {
        fn now(&self) -> Instant {
            self.now
        }
        fn sleep_until(&mut self, at: Instant) {
            assert!(at > self.now, "the schedule must never sleep for nothing");
            self.now = at;
            self.wakeups += 1;
        }
    }

    /// Runs `records` at `rate` on the simulated clock; returns every slot and the wake-ups.
    fn simulate(rate: Option<f64>, records: u64) -> (Vec<Slot>, u64) {
        let start = Instant::now();
        let mut clock = SimulatedClock {
            now: start,
            wakeups: 0,
        };
        let mut slots = Vec::new();
        let sent = Schedule::new(start, rate).run(&mut clock, |slot| {
            if slot.index == records {
                return Release::Stop;
            }
            slots.push(slot);
            Release::Sent
        });
        assert_eq!(sent, records);
        (slots, clock.wakeups)
    }

    #[test]
    fn records_are_due_at_start_plus_index_over_rate() {
        let start = Instant::now();
        let schedule = Schedule::new(start, Some(1000.0));
        assert_eq!(schedule.due_time(0, start), start);
        assert_eq!(
            schedule.due_time(250, start),
            start + Duration::from_millis(250)
        );
        let flat_out = Schedule::new(start, None);
        let later = start + Duration::from_secs(3);
        assert_eq!(flat_out.due_time(1_000_000, later), later);
    }

    #[test]
    fn at_high_rates_records_leave_in_groups_once_per_tick() {
        // 50,000 records/s for one second: one wake-up per 100 µs tick, not one per record.
        let (_, wakeups) = simulate(Some(50_000.0), 50_000);
        assert!(wakeups <= 10_001, "{wakeups} wake-ups for 1 s of schedule");
        assert!(
            wakeups >= 9_000,
            "{wakeups} wake-ups: records held back too long"
        );
    }

    #[test]
    fn at_low_rates_the_sender_wakes_once_per_record() {
        // One wake-up per record after the first; the last one finds the quota reached.
        let (_, wakeups) = simulate(Some(200.0), 400);
        assert_eq!(wakeups, 400);
    }

    #[test]
    fn no_record_is_released_early_or_more_than_one_tick_late() {
        for rate in [50.0, 4_883.0, 9_999.0, 10_000.0, 48_828.0, 1_000_000.0] {
            let (slots, _) = simulate(Some(rate), 20_000);
            for (expected, slot) in slots.iter().enumerate() {
                assert_eq!(slot.index, expected as u64, "in order at {rate}/s");
                assert!(
                    slot.released >= slot.due,
                    "record {} released before its due time at {rate}/s",
                    slot.index
                );
                assert!(
                    slot.released - slot.due <= RELEASE_TICK,
                    "record {} released {:?} late at {rate}/s",
                    slot.index,
                    slot.released - slot.due
                );
            }
        }
    }

    #[test]
    fn flat_out_never_sleeps() {
        let (slots, wakeups) = simulate(None, 1_000);
        assert_eq!(wakeups, 0);
        assert!(slots.iter().all(|slot| slot.due == slot.released));
    }

    /// On the real clock: nothing early, and the typical record leaves within a tick of its
    /// due time (every record's bound is the simulated test's: a shared test machine can delay
    /// any one wake-up).
    #[test]
    fn the_real_clock_releases_on_time() {
        let start = Instant::now() + Duration::from_millis(1);
        let schedule = Schedule::new(start, Some(20_000.0));
        let mut clock = RealClock::for_this_thread();
        let mut lateness = Vec::new();
        schedule.run(&mut clock, |slot| {
            if slot.index == 4_000 {
                return Release::Stop;
            }
            let now = Instant::now();
            assert!(now >= slot.due, "record {} released early", slot.index);
            lateness.push(now - slot.due);
            Release::Sent
        });
        lateness.sort();
        let median = lateness[lateness.len() / 2];
        assert!(
            median <= RELEASE_TICK,
            "median release {median:?} after the due time"
        );
    }
}
