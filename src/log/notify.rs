//! A wake-up signal for one waiting task on the same executor (the partition's flusher).
//! Signals that arrive while nobody waits are remembered, so none is lost.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
pub(crate) struct Notify {
    signaled: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    pub fn notify(&self) {
        self.signaled.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    pub fn notified(&self) -> Notified<'_> {
        Notified { notify: self }
    }
}

pub(crate) struct Notified<'a> {
    notify: &'a Notify,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.signaled.replace(false) {
            return Poll::Ready(());
        }
        *self.notify.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Wakes every task waiting for a condition on the same executor (long-polling fetches waiting
/// for a partition to grow). Waiters re-check their condition when woken.
#[derive(Debug, Default)]
pub(crate) struct WakeAll {
    wakers: RefCell<Vec<Waker>>,
}

impl WakeAll {
    pub fn wake_all(&self) {
        for waker in self.wakers.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Resolves once `ready()` is true, re-checked on every `wake_all`.
    pub fn until<F: Fn() -> bool>(&self, ready: F) -> Until<'_, F> {
        Until { all: self, ready }
    }
}

pub(crate) struct Until<'a, F> {
    all: &'a WakeAll,
    ready: F,
}

impl<F: Fn() -> bool> Future for Until<'_, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if (self.ready)() {
            return Poll::Ready(());
        }
        let mut wakers = self.all.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
