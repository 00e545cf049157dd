//! Limits on what clients may hold of the broker: connections (Kafka's `max.connections`,
//! `max.connections.per.ip`, `max.connections.per.ip.overrides`), request memory
//! (`queued.max.request.bytes`) and how long a SIGTERM waits for requests in flight
//! (`shutdown.timeout.ms`, Weir's own key).

use std::collections::HashMap;
use std::net::IpAddr;

use super::{ConfigError, Settings};

/// Kafka's default for both connection limits: `Int.MaxValue`, no limit.
const NO_LIMIT: i64 = i32::MAX as i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// `max.connections`: the broker's open connections. At the limit a shard stops accepting
    /// until one closes (new clients wait in the listen backlog), as Kafka's acceptor does.
    pub max_connections: usize,
    /// `max.connections.per.ip`: beyond it a new connection from that address is closed at
    /// once, as Kafka does.
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`: `ip:count,ip:count`.
    pub per_ip_overrides: HashMap<IpAddr, usize>,
    /// `queued.max.request.bytes`: bytes of requests read but not yet answered, per shard;
    /// when they are all taken the shard reads no more requests. `None`: no bound (Kafka's
    /// -1). A request larger than the bound is admitted when it is the only one in flight.
    pub queued_max_request_bytes: Option<u64>,
    /// `shutdown.timeout.ms`: how long SIGTERM/SIGINT waits for requests in flight before it
    /// closes the remaining connections and the logs.
    pub shutdown_timeout_ms: u64,
}

impl ConnectionConfig {
    pub(crate) fn parse(s: &Settings<'_>) -> Result<Self, ConfigError> {
        let queued = s.parse::<i64>("queued.max.request.bytes")?;
        Ok(ConnectionConfig {
            max_connections: s.parse("max.connections")?,
            max_connections_per_ip: s.parse("max.connections.per.ip")?,
            per_ip_overrides: parse_overrides(
                s.text("max.connections.per.ip.overrides").unwrap_or(""),
            )?,
            queued_max_request_bytes: u64::try_from(queued).ok(),
            shutdown_timeout_ms: s.parse("shutdown.timeout.ms")?,
        })
    }

    /// Whether any client address has a connection limit (else none is counted).
    pub fn limits_addresses(&self) -> bool {
        self.max_connections_per_ip < NO_LIMIT as usize || !self.per_ip_overrides.is_empty()
    }

    /// The connection limit for one client address.
    pub fn limit_for(&self, ip: IpAddr) -> usize {
        self.per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.max_connections_per_ip)
    }
}

/// Kafka's `hostName:count,ip:count` list. Weir matches the peer's address, so entries must be
/// IP addresses (IPv6 as `[::1]:5`).
fn parse_overrides(text: &str) -> Result<HashMap<IpAddr, usize>, ConfigError> {
    const KEY: &str = "max.connections.per.ip.overrides";
    let mut overrides = HashMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = |reason: &str| ConfigError::invalid(KEY, entry, reason);
        let (host, count) = entry
            .rsplit_once(':')
            .ok_or_else(|| bad("expected ip:count"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = host
            .parse()
            .map_err(|_| bad("not an IP address (host names are not resolved)"))?;
        let count: usize = count
            .parse()
            .map_err(|_| bad("the count is not a number"))?;
        overrides.insert(ip, count);
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ConnectionConfig, ConfigError> {
        let map: std::collections::BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ConnectionConfig::parse(&Settings::validated(&map)?)
    }

    #[test]
    fn defaults_follow_kafka_but_bound_request_memory() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.max_connections, i32::MAX as usize);
        assert_eq!(config.max_connections_per_ip, i32::MAX as usize);
        assert!(config.per_ip_overrides.is_empty());
        assert_eq!(config.queued_max_request_bytes, Some(104_857_600));
        assert_eq!(config.shutdown_timeout_ms, 10_000);
        assert!(!config.limits_addresses());
    }

    #[test]
    fn overrides_give_per_address_limits() {
        let config = parse(&[
            ("max.connections.per.ip", "10"),
            (
                "max.connections.per.ip.overrides",
                "127.0.0.1:2, [::1]:0 ,10.0.0.1:100",
            ),
        ])
        .unwrap();
        assert_eq!(config.limit_for("127.0.0.1".parse().unwrap()), 2);
        assert_eq!(config.limit_for("::1".parse().unwrap()), 0);
        assert_eq!(config.limit_for("10.0.0.2".parse().unwrap()), 10);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            ("max.connections", "0"),
            ("max.connections.per.ip", "-5"),
            ("max.connections.per.ip.overrides", "broker-host:3"),
            ("max.connections.per.ip.overrides", "127.0.0.1"),
            ("queued.max.request.bytes", "100"),
            ("shutdown.timeout.ms", "soon"),
        ] {
            match parse(&[(key, value)]) {
                Err(ConfigError::InvalidValue { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}={value}: {other:?}"),
            }
        }
        assert_eq!(
            parse(&[("queued.max.request.bytes", "-1")])
                .unwrap()
                .queued_max_request_bytes,
            None
        );
    }
}
