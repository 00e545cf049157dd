//! A first-come, first-served lock for the tasks of one executor: a partition's I/O lock.
//!
//! glommio's `Semaphore` wakes the oldest waiter on release but lets any task that asks before
//! that waiter runs take the permit, and the woken waiter then queues again at the back. The
//! partition's flusher takes the lock again as soon as it lets it go, so acks=all waiters were
//! passed over for hundreds of writes while producers kept appending (perf/RESULTS.md, catch-up
//! isolation). Here a release hands the lock straight to the oldest waiter.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
pub(crate) struct FifoLock {
    held: Cell<bool>,
    waiters: RefCell<VecDeque<Rc<Waiter>>>,
}

#[derive(Debug, Default)]
struct Waiter {
    /// The lock was handed to this waiter: it holds it from then on.
    granted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// Holding the lock; dropping it hands the lock to the oldest waiter.
#[derive(Debug)]
pub(crate) struct FifoLockGuard<'a> {
    lock: &'a FifoLock,
}

impl FifoLock {
    pub fn lock(&self) -> Acquire<'_> {
        Acquire {
            lock: self,
            waiter: None,
        }
    }

    /// Hands the lock to the oldest waiter, or frees it when nobody waits.
    fn release(&self) {
        match self.waiters.borrow_mut().pop_front() {
            Some(next) => {
                next.granted.set(true);
                if let Some(waker) = next.waker.borrow_mut().take() {
                    waker.wake();
                }
            }
            None => self.held.set(false),
        }
    }
}

impl Drop for FifoLockGuard<'_> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

/// The future of `FifoLock::lock`.
pub(crate) struct Acquire<'a> {
    lock: &'a FifoLock,
    waiter: Option<Rc<Waiter>>,
}

impl<'a> Future for Acquire<'a> {
    type Output = FifoLockGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.lock;
        match &self.waiter {
            None if !lock.held.get() => {
                lock.held.set(true);
                Poll::Ready(FifoLockGuard { lock })
            }
            None => {
                let waiter = Rc::new(Waiter::default());
                *waiter.waker.borrow_mut() = Some(cx.waker().clone());
                lock.waiters.borrow_mut().push_back(waiter.clone());
                self.waiter = Some(waiter);
                Poll::Pending
            }
            Some(waiter) if waiter.granted.get() => {
                self.waiter = None;
                Poll::Ready(FifoLockGuard { lock })
            }
            Some(waiter) => {
                *waiter.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(waiter) = self.waiter.take() else {
            return;
        };
        if waiter.granted.get() {
            // Handed the lock but dropped before it ran: pass it on.
            self.lock.release();
        } else {
            self.lock
                .waiters
                .borrow_mut()
                .retain(|queued| !Rc::ptr_eq(queued, &waiter));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_lite::future::poll_once;
    use glommio::LocalExecutorBuilder;

    use super::*;

    fn run<F: Future<Output = ()> + 'static>(test: impl FnOnce() -> F + Send + 'static) {
        LocalExecutorBuilder::default()
            .spawn(move || async move { test().await })
            .unwrap()
            .join()
            .unwrap();
    }

    /// Waiters get the lock in the order they asked, and a task that takes it again as soon as
    /// it lets go (the flusher) queues behind them instead of passing them.
    #[test]
    fn waiters_are_served_in_order_and_a_greedy_task_cannot_pass_them() {
        run(|| async {
            let lock = Rc::new(FifoLock::default());
            let order = Rc::new(RefCell::new(Vec::new()));
            let greedy = glommio::spawn_local({
                let (lock, order) = (lock.clone(), order.clone());
                async move {
                    for _ in 0..3 {
                        let _held = lock.lock().await;
                        order.borrow_mut().push("greedy");
                        glommio::timer::sleep(Duration::from_millis(5)).await;
                    }
                }
            });
            glommio::timer::sleep(Duration::from_millis(1)).await;
            let waiters: Vec<_> = ["a", "b"]
                .into_iter()
                .map(|name| {
                    let (lock, order) = (lock.clone(), order.clone());
                    glommio::spawn_local(async move {
                        let _held = lock.lock().await;
                        order.borrow_mut().push(name);
                    })
                })
                .collect();
            for waiter in waiters {
                waiter.await;
            }
            greedy.await;
            assert_eq!(*order.borrow(), ["greedy", "a", "b", "greedy", "greedy"]);
            assert!(!lock.held.get());
        });
    }

    /// A waiter that gives up (its future dropped) leaves the queue; one dropped after the lock
    /// was handed to it passes the lock on: the lock is never lost.
    #[test]
    fn dropped_waiters_never_lose_the_lock() {
        run(|| async {
            let lock = FifoLock::default();
            let first = lock.lock().await;
            // Queued, then dropped while still waiting.
            let mut gave_up = Box::pin(lock.lock());
            assert!(poll_once(&mut gave_up).await.is_none());
            assert_eq!(lock.waiters.borrow().len(), 1);
            drop(gave_up);
            assert!(lock.waiters.borrow().is_empty());
            // Queued, handed the lock, dropped before it ran.
            let mut granted = Box::pin(lock.lock());
            assert!(poll_once(&mut granted).await.is_none());
            drop(first);
            drop(granted);
            assert!(!lock.held.get(), "the lock was passed on and freed");
            let _again = lock.lock().await;
        });
    }
}
