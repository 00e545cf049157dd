//! What clients may hold of the broker: connections (`max.connections`,
//! `max.connections.per.ip`) and request memory per shard (`queued.max.request.bytes`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use glommio::sync::{Semaphore, StaticPermit};

use crate::config::ConnectionConfig;

/// Broker-wide connection counts, shared by every shard's acceptor. They are touched once when
/// a connection opens and once when it closes, never per request: the per-address map sits
/// behind a mutex (as Kafka's `ConnectionQuotas` does) because connections from one address
/// land on any shard.
pub struct ConnectionLimits {
    config: ConnectionConfig,
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("the broker has max.connections ({0}) open")]
    BrokerFull(usize),
    #[error("{ip} has {limit} connections open (max.connections.per.ip)")]
    PerIp { ip: IpAddr, limit: usize },
}

/// One admitted connection; dropping it gives its place back.
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl ConnectionLimits {
    pub fn new(config: ConnectionConfig) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            config,
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a place for a connection from `ip`, or says which limit it hits.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refused> {
        let max = self.config.max_connections;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .map_err(|_| Refused::BrokerFull(max))?;
        let limit = self.config.limit_for(ip);
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                per_ip.remove(&ip);
            }
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::PerIp { ip, limit });
        }
        *count += 1;
        Ok(ConnectionSlot {
            limits: self.clone(),
            ip,
        })
    }

    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut per_ip = self.limits.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.limits.open.fetch_sub(1, Ordering::AcqRel);
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

    fn limits(pairs: &[(&str, &str)]) -> Arc<ConnectionLimits> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = ConnectionConfig::parse(&|key: &str| map.get(key).map(String::as_str))
            .expect("valid config");
        ConnectionLimits::new(config)
    }

    #[test]
    fn per_ip_limit_refuses_only_that_address_and_frees_on_close() {
        let limits = limits(&[("max.connections.per.ip", "2")]);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        assert_eq!(
            limits.admit(a).err(),
            Some(Refused::PerIp { ip: a, limit: 2 })
        );
        let _other = limits.admit(b).unwrap();
        assert_eq!(limits.open_connections(), 3);
        drop(first);
        let _again = limits.admit(a).expect("a place was freed");
        assert_eq!(limits.open_connections(), 3);
    }

    #[test]
    fn broker_limit_counts_every_address() {
        let limits = limits(&[("max.connections", "2")]);
        let _a = limits.admit("10.0.0.1".parse().unwrap()).unwrap();
        let b = limits.admit("10.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(
            limits.admit("10.0.0.3".parse().unwrap()).err(),
            Some(Refused::BrokerFull(2))
        );
        drop(b);
        assert!(limits.admit("10.0.0.3".parse().unwrap()).is_ok());
    }

    #[test]
    fn an_override_of_zero_refuses_the_address() {
        let limits = limits(&[("max.connections.per.ip.overrides", "10.1.1.1:0")]);
        assert!(limits.admit("10.1.1.1".parse().unwrap()).is_err());
        assert_eq!(limits.open_connections(), 0);
        assert!(limits.admit("10.1.1.2".parse().unwrap()).is_ok());
    }
}
