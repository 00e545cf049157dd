//! The connections a shard serves, by the descriptor of their writer's socket handle, so a
//! graceful shutdown can reach them: first it stops their reads (a reader sees the end of the
//! stream, while the writer still sends every answer in flight), later it closes what is left.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::RawFd;

#[derive(Default)]
pub struct OpenConnections {
    next_id: Cell<u64>,
    sockets: RefCell<HashMap<u64, RawFd>>,
}

impl OpenConnections {
    /// Registers a socket that stays open until `remove(id)`.
    pub fn insert(&self, fd: RawFd) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.sockets.borrow_mut().insert(id, fd);
        id
    }

    /// Called before the socket is closed, so no shutdown reaches a reused descriptor.
    pub fn remove(&self, id: u64) {
        self.sockets.borrow_mut().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.sockets.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// No more requests are read: each reader sees the end of its stream.
    pub fn stop_reading(&self) {
        self.shutdown_all(libc::SHUT_RD);
    }

    /// Closes both directions: answers still in flight are dropped.
    pub fn close_all(&self) {
        self.shutdown_all(libc::SHUT_RDWR);
    }

    fn shutdown_all(&self, how: libc::c_int) {
        for &fd in self.sockets.borrow().values() {
            // SAFETY: every registered descriptor is an open socket until `remove`, which its
            // owner calls before closing it (all on this shard's thread).
            unsafe { libc::shutdown(fd, how) };
        }
    }
}
