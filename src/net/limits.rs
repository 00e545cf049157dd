//! What clients may hold of the broker: connections (`max.connections`,
//! `max.connections.per.ip`) and request memory per shard (`queued.max.request.bytes`).
//!
//! No lock: the broker-wide count is one atomic, and each client address's count is kept by
//! one owner shard (a hash of the address), which the accepting shard asks over the mesh, as
//! for partitions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use glommio::sync::{Semaphore, StaticPermit};

/// `max.connections`: the broker's open connections, shared by every shard's acceptor.
pub struct ConnectionCount {
    open: AtomicUsize,
    max: usize,
}

/// One counted connection; dropping it gives its place back.
pub struct ConnectionSlot {
    count: Arc<ConnectionCount>,
}

impl ConnectionCount {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(ConnectionCount {
            open: AtomicUsize::new(0),
            max,
        })
    }

    /// A place for one more connection, or `None` at `max.connections`.
    pub fn try_take(self: &Arc<Self>) -> Option<ConnectionSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .ok()
            .map(|_| ConnectionSlot {
                count: self.clone(),
            })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    #[cfg(test)]
    fn open_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.count.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The shard that keeps the connection count of `ip` (`max.connections.per.ip`).
pub fn owner_of_address(ip: IpAddr, shard_count: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    ip.hash(&mut hasher);
    (hasher.finish() % shard_count.max(1) as u64) as usize
}

/// Open connections per client address, for the addresses this shard owns.
#[derive(Default)]
pub struct AddressConnections {
    open: RefCell<HashMap<IpAddr, usize>>,
}

impl AddressConnections {
    /// Counts one more connection from `ip` unless it already has `limit`.
    pub fn admit(&self, ip: IpAddr, limit: usize) -> bool {
        let mut open = self.open.borrow_mut();
        let count = open.entry(ip).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                open.remove(&ip);
            }
            return false;
        }
        *count += 1;
        true
    }

    /// One connection from `ip` closed.
    pub fn release(&self, ip: IpAddr) {
        let mut open = self.open.borrow_mut();
        if let Some(count) = open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// `queued.max.request.bytes` of one shard: a request's size is taken before its body is read
/// and given back when its handler is done. When none is left the shard's connections read no
/// more requests, so memory stays bounded and TCP pushes back on the clients.
pub struct RequestMemory {
    /// `None`: no bound (`queued.max.request.bytes=-1`).
    budget: Option<(Rc<Semaphore>, u64)>,
}

impl RequestMemory {
    pub fn new(bytes: Option<u64>) -> Self {
        RequestMemory {
            budget: bytes.map(|bytes| (Rc::new(Semaphore::new(bytes)), bytes)),
        }
    }

    /// Memory for a request of `size` bytes, waiting while other requests hold it. A request
    /// larger than the whole budget takes all of it (it is read when it is alone).
    /// `None` when there is no bound (glommio's semaphore also fails once closed, which this
    /// one never is).
    pub async fn acquire(&self, size: usize) -> Option<RequestPermit> {
        let (semaphore, bytes) = self.budget.as_ref()?;
        let units = (size as u64).clamp(1, *bytes);
        let waited = semaphore.available() < units;
        match semaphore.acquire_static_permit(units).await {
            Ok(permit) => Some(RequestPermit {
                _permit: permit,
                waited,
            }),
            Err(_) => None,
        }
    }

    /// Bytes of requests held now (0 without a bound).
    pub fn in_use(&self) -> u64 {
        self.budget
            .as_ref()
            .map_or(0, |(semaphore, bytes)| bytes - semaphore.available())
    }
}

/// A request's share of `queued.max.request.bytes`, given back on drop.
pub struct RequestPermit {
    _permit: StaticPermit,
    /// The connection had to wait for it (the shard was at its bound).
    pub waited: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_limit_refuses_only_that_address_and_frees_on_close() {
        let counts = AddressConnections::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(counts.admit(a, 2));
        assert!(counts.admit(a, 2));
        assert!(!counts.admit(a, 2));
        assert!(counts.admit(b, 2));
        counts.release(a);
        assert!(counts.admit(a, 2), "a place was freed");
        assert!(!counts.admit(a, 2));
    }

    #[test]
    fn broker_limit_counts_every_connection() {
        let count = ConnectionCount::new(2);
        let _a = count.try_take().unwrap();
        let b = count.try_take().unwrap();
        assert!(count.try_take().is_none());
        assert_eq!(count.open_connections(), 2);
        drop(b);
        assert!(count.try_take().is_some());
    }

    #[test]
    fn an_override_of_zero_refuses_the_address() {
        let counts = AddressConnections::default();
        assert!(!counts.admit("10.1.1.1".parse().unwrap(), 0));
        assert!(counts.open.borrow().is_empty());
        assert!(counts.admit("10.1.1.2".parse().unwrap(), 5));
    }

    #[test]
    fn addresses_spread_over_shards() {
        let owners: std::collections::HashSet<usize> = (1..=50u8)
            .map(|i| owner_of_address(IpAddr::from([10, 0, 0, i]), 4))
            .collect();
        assert_eq!(owners.len(), 4);
        assert_eq!(owner_of_address("::1".parse().unwrap(), 1), 0);
    }
}
