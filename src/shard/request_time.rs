//! A request's time on the broker's shards, what a `request_percentage` quota measures
//! (KIP-124). Kafka counts the time a request spends on a request handler thread; a Weir
//! request has no thread of its own, so its time is the sum of the polls of its futures: the
//! handler, the per-partition tasks it starts, and the operations other shards run for it
//! (their time comes back with the answer over the mesh). Waits (a long poll, acks=all) are
//! not polls, so they cost nothing, as a request parked in Kafka's purgatory costs no handler
//! time.
//!
//! Only requests of clients under such a quota are timed: everything here is skipped when no
//! clock is given.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The time spent so far on one request.
#[derive(Debug, Default)]
pub struct RequestClock {
    spent: Cell<Duration>,
    /// When the poll under way on this shard began, if one is.
    polled_since: Cell<Option<Instant>>,
}

impl RequestClock {
    /// The time so far, the poll under way included (a handler may ask in the middle of one).
    pub fn spent(&self) -> Duration {
        let current = self
            .polled_since
            .get()
            .map_or(Duration::ZERO, |t| t.elapsed());
        self.spent.get() + current
    }

    /// Time spent for this request elsewhere (another shard's answer).
    pub fn add(&self, time: Duration) {
        self.spent.set(self.spent.get() + time);
    }
}

thread_local! {
    /// The clock of the request whose future this shard is polling, if it is timed: read by
    /// whatever that poll starts (a task per partition, a call to another shard).
    static POLLING: RefCell<Option<Rc<RequestClock>>> = const { RefCell::new(None) };
}

/// The clock of the timed request being polled right now, if any.
pub fn polling() -> Option<Rc<RequestClock>> {
    POLLING.with(|current| current.borrow().clone())
}

/// Runs `future`, adding the time of each of its polls to `clock` (none: just runs it). A poll
/// inside one already timed by the same clock is not counted twice.
pub async fn timed<F: Future>(clock: Option<Rc<RequestClock>>, future: F) -> F::Output {
    let Some(clock) = clock else {
        return future.await;
    };
    let mut future = pin!(future);
    std::future::poll_fn(|cx| {
        if clock.polled_since.get().is_some() {
            return future.as_mut().poll(cx);
        }
        let started = Instant::now();
        clock.polled_since.set(Some(started));
        let outer = POLLING.with(|current| current.replace(Some(clock.clone())));
        let polled = future.as_mut().poll(cx);
        POLLING.with(|current| *current.borrow_mut() = outer);
        clock.polled_since.set(None);
        clock.add(started.elapsed());
        polled
    })
    .await
}

/// Runs `future` and answers the time its polls took (work another shard does for a timed
/// request).
pub async fn measured<F: Future>(future: F) -> (F::Output, Duration) {
    let clock = Rc::new(RequestClock::default());
    let output = timed(Some(clock.clone()), future).await;
    (output, clock.spent())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(for_time: Duration) {
        let started = Instant::now();
        while started.elapsed() < for_time {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn polls_are_counted_waits_are_not_and_spawned_tasks_count_for_their_request() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let clock = Rc::new(RequestClock::default());
                let spent = timed(Some(clock.clone()), async {
                    busy(Duration::from_millis(20));
                    // A wait is not a poll.
                    glommio::timer::sleep(Duration::from_millis(200)).await;
                    // A task started while the request is polled counts for it.
                    let inherited = polling();
                    assert!(inherited.is_some());
                    glommio::spawn_local(timed(inherited, async {
                        busy(Duration::from_millis(20));
                    }))
                    .await;
                    // Asked in the middle of a poll, the poll so far counts.
                    busy(Duration::from_millis(5));
                    polling().map(|c| c.spent())
                })
                .await;
                let spent_inside = spent.expect("the request's clock");
                assert!(
                    spent_inside >= Duration::from_millis(45),
                    "{spent_inside:?}"
                );
                assert!(polling().is_none(), "the clock is put back after each poll");
                let total = clock.spent();
                assert!(
                    total >= spent_inside && total < Duration::from_millis(150),
                    "{total:?}"
                );
                let ((), alone) = measured(async { busy(Duration::from_millis(10)) }).await;
                assert!(alone >= Duration::from_millis(10), "{alone:?}");
                assert_eq!(timed(None, async { 7 }).await, 7);
                // Nested under the same clock, a poll is counted once.
                let once = Rc::new(RequestClock::default());
                timed(
                    Some(once.clone()),
                    timed(Some(once.clone()), async {
                        busy(Duration::from_millis(10))
                    }),
                )
                .await;
                assert!(
                    once.spent() < Duration::from_millis(19),
                    "{:?}",
                    once.spent()
                );
            })
            .expect("executor")
            .join()
            .expect("join");
    }
}
