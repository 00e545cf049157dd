//! Wall-clock time in milliseconds, behind a trait so that retention and segment rolling can be
//! tested with an injected clock; and monotonic time for timeouts (group sessions and
//! rebalances), injectable the same way.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as Kafka timestamps are.
pub trait Clock {
    fn now_ms(&self) -> i64;
}

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; cheap to clone, clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now_ms: Rc<Cell<i64>>,
}

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self {
            now_ms: Rc::new(Cell::new(now_ms)),
        }
    }

    pub fn set_ms(&self, now_ms: i64) {
        self.now_ms.set(now_ms);
    }

    pub fn advance_ms(&self, delta_ms: i64) {
        self.now_ms.set(self.now_ms.get() + delta_ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.get()
    }
}

/// Monotonic time: what timeouts are measured with.
pub trait Monotonic {
    fn now(&self) -> Instant;
}

/// The machine's monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemMonotonic;

impl Monotonic for SystemMonotonic {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Monotonic time that only moves when told to; clones share the time.
#[derive(Debug, Clone)]
pub struct ManualMonotonic {
    start: Instant,
    elapsed: Rc<Cell<Duration>>,
}

impl ManualMonotonic {
    pub fn new() -> Self {
        ManualMonotonic {
            start: Instant::now(),
            elapsed: Rc::new(Cell::new(Duration::ZERO)),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.elapsed.set(self.elapsed.get() + by);
    }
}

impl Default for ManualMonotonic {
    fn default() -> Self {
        Self::new()
    }
}

impl Monotonic for ManualMonotonic {
    fn now(&self) -> Instant {
        self.start + self.elapsed.get()
    }
}
