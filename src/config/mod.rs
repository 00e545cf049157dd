//! Broker configuration: a `server.properties` file and `--override key=value` flags, with
//! Kafka's key names, turned into a typed [`BrokerConfig`]. Unknown keys and bad values are
//! errors that name the key, so a typo never silently runs a broker with a default.

mod connections;
mod properties;
mod topic;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use crate::group::GroupConfig;
use crate::log::{CleanupPolicy, FlushPolicy, LogConfig};
use crate::record::TimestampType;

pub use connections::ConnectionConfig;
pub use properties::parse_properties;
pub use topic::{TopicConfigError, TopicConfigs, TOPIC_CONFIG_KEYS};

/// The data directory `weir serve` uses when `log.dirs` is not set.
pub const DEFAULT_LOG_DIR: &str = "weir-data";
/// The listener `weir serve` uses when `listeners` is not set (Kafka's port).
pub const DEFAULT_LISTENER: &str = "PLAINTEXT://127.0.0.1:9092";
/// Where `/metrics` (Prometheus text) is served when `admin.listener` is not set (Redpanda's
/// admin port).
pub const DEFAULT_ADMIN_LISTENER: &str = "127.0.0.1:9644";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unknown configuration key `{key}`{hint}")]
    UnknownKey { key: String, hint: String },
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("{path}: line {line}: {reason}")]
    Syntax {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// Where clients reach the broker: what Metadata answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedListener {
    pub host: String,
    pub port: u16,
}

/// Everything `weir serve` runs with.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `broker.id`
    pub broker_id: i32,
    /// `listeners`: the one PLAINTEXT address every shard binds with SO_REUSEPORT.
    pub listener: SocketAddr,
    /// `advertised.listeners` (defaults to the listener; a wildcard address advertises the host
    /// name, as Kafka does).
    pub advertised: AdvertisedListener,
    /// `log.dirs`: one directory (Weir does not spread partitions over several disks yet).
    pub log_dir: PathBuf,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`
    pub auto_create_topics: bool,
    /// `delete.topic.enable`
    pub delete_topic_enable: bool,
    /// `socket.request.max.bytes`: larger frames close the connection.
    pub socket_request_max_bytes: usize,
    /// `log.retention.check.interval.ms`
    pub retention_check_interval_ms: u64,
    /// `connections.max.idle.ms`: connections with no request for this long are closed
    /// (`None`: never, Kafka's -1).
    pub connections_max_idle_ms: Option<u64>,
    /// `admin.listener` (Weir's own key): the HTTP address of `/metrics`; `None` when set to
    /// an empty value.
    pub admin_listener: Option<SocketAddr>,
    /// Connection, request-memory and shutdown limits.
    pub connections: ConnectionConfig,
    /// The broker-wide defaults of every topic config (`log.*`, `message.max.bytes`).
    pub log: LogConfig,
    /// `log.cleaner.*`: the compaction of `cleanup.policy=compact` topics.
    pub cleaner: CleanerConfig,
    /// `group.*` and `offset.metadata.max.bytes`: the group coordinator.
    pub group: GroupConfig,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets` when it is created.
    pub offsets_topic_partitions: i32,
    /// Every key as given, for DescribeConfigs.
    pub given: BTreeMap<String, String>,
}

/// The log cleaner (Kafka's `log.cleaner.*` broker keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`
    pub enable: bool,
    /// `log.cleaner.backoff.ms`: pause between passes over a shard's compacted partitions.
    pub backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: memory for the key → latest offset map of one pass
    /// (per shard here, where Kafka divides it among its cleaner threads).
    pub dedupe_buffer_bytes: usize,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            backoff_ms: 15_000,
            dedupe_buffer_bytes: 128 << 20,
        }
    }
}

/// Kafka keys this broker accepts, with Kafka's defaults where Weir follows them.
pub const BROKER_CONFIG_KEYS: &[&str] = &[
    "broker.id",
    "listeners",
    "advertised.listeners",
    "admin.listener",
    "log.dirs",
    "log.dir",
    "num.partitions",
    "default.replication.factor",
    "offsets.topic.replication.factor",
    "auto.create.topics.enable",
    "delete.topic.enable",
    "log.retention.hours",
    "log.retention.minutes",
    "log.retention.ms",
    "log.retention.bytes",
    "log.retention.check.interval.ms",
    "log.segment.bytes",
    "log.roll.hours",
    "log.roll.ms",
    "log.index.interval.bytes",
    "log.message.timestamp.type",
    "message.max.bytes",
    "socket.request.max.bytes",
    "connections.max.idle.ms",
    "max.connections",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "queued.max.request.bytes",
    "shutdown.timeout.ms",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "compression.type",
    "log.cleanup.policy",
    "log.cleaner.enable",
    "log.cleaner.backoff.ms",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.initial.rebalance.delay.ms",
    "offset.metadata.max.bytes",
    "offsets.topic.num.partitions",
];

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig::from_properties(BTreeMap::new()).expect("defaults are valid")
    }
}

impl BrokerConfig {
    /// Builds the config from `key=value` pairs (file first, overrides applied on top).
    pub fn from_properties(props: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        for key in props.keys() {
            if !BROKER_CONFIG_KEYS.contains(&key.as_str()) {
                return Err(ConfigError::UnknownKey {
                    key: key.clone(),
                    hint: unknown_key_hint(key),
                });
            }
        }
        let get = |key: &str| props.get(key).map(|v| v.trim());

        let broker_id = parse_int::<i32>("broker.id", get("broker.id"), 0)?;
        if broker_id < 0 {
            return Err(ConfigError::invalid(
                "broker.id",
                &broker_id.to_string(),
                "must be 0 or more",
            ));
        }
        let listener_text = get("listeners").unwrap_or(DEFAULT_LISTENER);
        let listener_endpoint = parse_listener("listeners", listener_text)?;
        let listener = resolve("listeners", &listener_endpoint)?;
        let advertised = match get("advertised.listeners") {
            Some(text) => parse_listener("advertised.listeners", text)?,
            None if listener.ip().is_unspecified() => AdvertisedListener {
                host: host_name(),
                port: listener.port(),
            },
            None => AdvertisedListener {
                host: listener.ip().to_string(),
                port: listener.port(),
            },
        };

        let log_dir = match (get("log.dirs"), get("log.dir")) {
            (Some(dirs), _) | (None, Some(dirs)) => {
                if dirs.contains(',') {
                    return Err(ConfigError::invalid(
                        "log.dirs",
                        dirs,
                        "Weir uses one log directory; give a single path",
                    ));
                }
                if dirs.is_empty() {
                    return Err(ConfigError::invalid("log.dirs", dirs, "empty path"));
                }
                PathBuf::from(dirs)
            }
            (None, None) => PathBuf::from(DEFAULT_LOG_DIR),
        };

        let num_partitions = parse_int::<i32>("num.partitions", get("num.partitions"), 1)?;
        if num_partitions < 1 {
            return Err(ConfigError::invalid(
                "num.partitions",
                &num_partitions.to_string(),
                "must be at least 1",
            ));
        }
        for key in [
            "default.replication.factor",
            "offsets.topic.replication.factor",
        ] {
            let factor = parse_int::<i16>(key, get(key), 1)?;
            if factor != 1 {
                return Err(ConfigError::invalid(
                    key,
                    &factor.to_string(),
                    "Weir runs as a single node: the replication factor is 1",
                ));
            }
        }
        let auto_create_topics = parse_bool(
            "auto.create.topics.enable",
            get("auto.create.topics.enable"),
            true,
        )?;
        let delete_topic_enable =
            parse_bool("delete.topic.enable", get("delete.topic.enable"), true)?;
        let socket_request_max_bytes = parse_int::<i32>(
            "socket.request.max.bytes",
            get("socket.request.max.bytes"),
            104_857_600,
        )?;
        if socket_request_max_bytes < 1024 {
            return Err(ConfigError::invalid(
                "socket.request.max.bytes",
                &socket_request_max_bytes.to_string(),
                "must be at least 1024",
            ));
        }
        let retention_check_interval_ms = parse_int::<u64>(
            "log.retention.check.interval.ms",
            get("log.retention.check.interval.ms"),
            300_000,
        )?
        .max(1);

        let idle = parse_int::<i64>(
            "connections.max.idle.ms",
            get("connections.max.idle.ms"),
            600_000,
        )?;
        let connections_max_idle_ms = match idle {
            -1 => None,
            ms if ms > 0 => Some(ms as u64),
            _ => {
                return Err(ConfigError::invalid(
                    "connections.max.idle.ms",
                    &idle.to_string(),
                    "must be positive, or -1 for never",
                ))
            }
        };
        let admin_listener = match get("admin.listener")
            .unwrap_or(DEFAULT_ADMIN_LISTENER)
            .trim()
        {
            "" => None,
            text => Some(
                text.to_socket_addrs()
                    .ok()
                    .and_then(|mut addrs| addrs.next())
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            "admin.listener",
                            text,
                            "expected host:port (or empty to turn the admin port off)",
                        )
                    })?,
            ),
        };
        let connections = ConnectionConfig::parse(&get)?;
        let log = broker_log_config(&get)?;
        let cleaner_defaults = CleanerConfig::default();
        let cleaner = CleanerConfig {
            enable: parse_bool(
                "log.cleaner.enable",
                get("log.cleaner.enable"),
                cleaner_defaults.enable,
            )?,
            backoff_ms: parse_int(
                "log.cleaner.backoff.ms",
                get("log.cleaner.backoff.ms"),
                cleaner_defaults.backoff_ms,
            )?
            .max(1),
            dedupe_buffer_bytes: parse_int(
                "log.cleaner.dedupe.buffer.size",
                get("log.cleaner.dedupe.buffer.size"),
                cleaner_defaults.dedupe_buffer_bytes,
            )?,
        };
        if cleaner.dedupe_buffer_bytes < 1 << 20 {
            return Err(ConfigError::invalid(
                "log.cleaner.dedupe.buffer.size",
                &cleaner.dedupe_buffer_bytes.to_string(),
                "must be at least 1048576",
            ));
        }
        let defaults = GroupConfig::default();
        let group = GroupConfig {
            min_session_timeout_ms: parse_int(
                "group.min.session.timeout.ms",
                get("group.min.session.timeout.ms"),
                defaults.min_session_timeout_ms,
            )?,
            max_session_timeout_ms: parse_int(
                "group.max.session.timeout.ms",
                get("group.max.session.timeout.ms"),
                defaults.max_session_timeout_ms,
            )?,
            initial_rebalance_delay_ms: parse_int(
                "group.initial.rebalance.delay.ms",
                get("group.initial.rebalance.delay.ms"),
                defaults.initial_rebalance_delay_ms,
            )?,
            offset_metadata_max_bytes: parse_int(
                "offset.metadata.max.bytes",
                get("offset.metadata.max.bytes"),
                defaults.offset_metadata_max_bytes,
            )?,
        };
        if group.min_session_timeout_ms > group.max_session_timeout_ms {
            return Err(ConfigError::invalid(
                "group.min.session.timeout.ms",
                &group.min_session_timeout_ms.to_string(),
                "larger than group.max.session.timeout.ms",
            ));
        }
        let offsets_topic_partitions = parse_int::<i32>(
            "offsets.topic.num.partitions",
            get("offsets.topic.num.partitions"),
            50,
        )?;
        if !(1..=1000).contains(&offsets_topic_partitions) {
            return Err(ConfigError::invalid(
                "offsets.topic.num.partitions",
                &offsets_topic_partitions.to_string(),
                "must be between 1 and 1000",
            ));
        }
        Ok(BrokerConfig {
            broker_id,
            listener,
            advertised,
            log_dir,
            num_partitions,
            auto_create_topics,
            delete_topic_enable,
            socket_request_max_bytes: socket_request_max_bytes as usize,
            retention_check_interval_ms,
            connections_max_idle_ms,
            admin_listener,
            connections,
            log,
            cleaner,
            group,
            offsets_topic_partitions,
            given: props,
        })
    }
}

/// The broker-level `log.*` keys as the defaults of every topic's [`LogConfig`].
fn broker_log_config<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<LogConfig, ConfigError> {
    let mut log = LogConfig::default();
    // Kafka's precedence: log.retention.ms over .minutes over .hours; -1 keeps forever.
    let retention_ms = if let Some(ms) = get("log.retention.ms") {
        parse_int::<i64>("log.retention.ms", Some(ms), 0)?
    } else if let Some(minutes) = get("log.retention.minutes") {
        parse_int::<i64>("log.retention.minutes", Some(minutes), 0)?.saturating_mul(60_000)
    } else {
        parse_int::<i64>("log.retention.hours", get("log.retention.hours"), 168)?
            .saturating_mul(3_600_000)
    };
    log.retention_ms = (retention_ms >= 0).then_some(retention_ms);
    let retention_bytes = parse_int::<i64>("log.retention.bytes", get("log.retention.bytes"), -1)?;
    log.retention_bytes = u64::try_from(retention_bytes).ok();
    let segment_bytes = parse_int::<i32>("log.segment.bytes", get("log.segment.bytes"), 1 << 30)?;
    if segment_bytes < 14 {
        return Err(ConfigError::invalid(
            "log.segment.bytes",
            &segment_bytes.to_string(),
            "must be at least 14 (Kafka's minimum)",
        ));
    }
    log.segment_bytes = segment_bytes as u64;
    log.segment_ms = if let Some(ms) = get("log.roll.ms") {
        parse_int::<i64>("log.roll.ms", Some(ms), 0)?
    } else {
        parse_int::<i64>("log.roll.hours", get("log.roll.hours"), 168)?.saturating_mul(3_600_000)
    };
    if log.segment_ms < 1 {
        return Err(ConfigError::invalid(
            "log.roll.ms",
            &log.segment_ms.to_string(),
            "must be at least 1",
        ));
    }
    log.index_interval_bytes = parse_int::<u64>(
        "log.index.interval.bytes",
        get("log.index.interval.bytes"),
        4096,
    )?;
    log.max_message_bytes =
        parse_int::<u32>("message.max.bytes", get("message.max.bytes"), 1_048_588)? as usize;
    log.message_timestamp_type = match get("log.message.timestamp.type") {
        None | Some("CreateTime") => TimestampType::CreateTime,
        Some("LogAppendTime") => TimestampType::LogAppendTime,
        Some(other) => {
            return Err(ConfigError::invalid(
                "log.message.timestamp.type",
                other,
                "must be CreateTime or LogAppendTime",
            ))
        }
    };
    if let Some(value) = get("compression.type") {
        log.compression = topic::parse_compression(value).ok_or_else(|| {
            ConfigError::invalid(
                "compression.type",
                value,
                "must be producer, uncompressed, gzip, snappy, lz4 or zstd",
            )
        })?;
    }
    // The cleaner's broker keys are the defaults of the topic keys, as in Kafka.
    let topic_default = |broker_key: &str, topic_key: &str| -> Result<(), ConfigError> {
        match get(broker_key) {
            Some(value) => topic::check_value(topic_key, value)
                .map_err(|e| ConfigError::invalid(broker_key, value, e.reason())),
            None => Ok(()),
        }
    };
    topic_default("log.cleanup.policy", "cleanup.policy")?;
    topic_default("log.cleaner.delete.retention.ms", "delete.retention.ms")?;
    topic_default(
        "log.cleaner.min.cleanable.ratio",
        "min.cleanable.dirty.ratio",
    )?;
    topic_default("log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms")?;
    if let Some(policy) = get("log.cleanup.policy").and_then(CleanupPolicy::parse) {
        log.cleanup = policy;
    }
    if let Some(ms) = get("log.cleaner.delete.retention.ms") {
        log.delete_retention_ms = parse_int("log.cleaner.delete.retention.ms", Some(ms), 0)?;
    }
    if let Some(ratio) = get("log.cleaner.min.cleanable.ratio") {
        log.min_cleanable_dirty_ratio =
            parse_int("log.cleaner.min.cleanable.ratio", Some(ratio), 0.5)?;
    }
    if let Some(ms) = get("log.cleaner.min.compaction.lag.ms") {
        log.min_compaction_lag_ms = parse_int("log.cleaner.min.compaction.lag.ms", Some(ms), 0)?;
    }
    log.flush = FlushPolicy {
        interval_messages: parse_optional_positive(
            "log.flush.interval.messages",
            get("log.flush.interval.messages"),
        )?,
        interval_ms: parse_optional_positive(
            "log.flush.interval.ms",
            get("log.flush.interval.ms"),
        )?,
    };
    Ok(log)
}

/// Kafka's `Long.MAX_VALUE` default for the flush intervals means "never by count/time"; so does
/// an absent key. Any value up to i64::MAX is a real interval.
fn parse_optional_positive(key: &str, value: Option<&str>) -> Result<Option<u64>, ConfigError> {
    match value {
        None => Ok(None),
        Some(text) => {
            let n = parse_int::<i64>(key, Some(text), 0)?;
            if n < 1 {
                return Err(ConfigError::invalid(key, text, "must be at least 1"));
            }
            Ok((n != i64::MAX).then_some(n as u64))
        }
    }
}

pub(crate) fn parse_int<T: std::str::FromStr>(
    key: &str,
    value: Option<&str>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => text
            .parse::<T>()
            .map_err(|_| ConfigError::invalid(key, text, "not a number in range")),
    }
}

pub(crate) fn parse_bool(
    key: &str,
    value: Option<&str>,
    default: bool,
) -> Result<bool, ConfigError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ConfigError::invalid(
            key,
            value.unwrap_or_default(),
            "must be true or false",
        )),
    }
}

/// `PLAINTEXT://host:port` (an empty host means all interfaces, as in Kafka).
fn parse_listener(key: &str, text: &str) -> Result<AdvertisedListener, ConfigError> {
    if text.contains(',') {
        return Err(ConfigError::invalid(
            key,
            text,
            "Weir serves one PLAINTEXT listener",
        ));
    }
    let Some(rest) = text.strip_prefix("PLAINTEXT://") else {
        return Err(ConfigError::invalid(
            key,
            text,
            "expected PLAINTEXT://host:port (TLS and SASL listeners are not supported)",
        ));
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(ConfigError::invalid(key, text, "missing :port"));
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| ConfigError::invalid(key, text, "port is not a number 0-65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(AdvertisedListener {
        host: if host.is_empty() { "0.0.0.0" } else { host }.to_string(),
        port,
    })
}

fn resolve(key: &str, endpoint: &AdvertisedListener) -> Result<SocketAddr, ConfigError> {
    (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            ConfigError::invalid(
                key,
                &format!("{}:{}", endpoint.host, endpoint.port),
                "host does not resolve",
            )
        })
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn unknown_key_hint(key: &str) -> String {
    if TOPIC_CONFIG_KEYS.contains(&key) && key != "compression.type" {
        return format!(" (a topic config: set it per topic, or as its broker default log.{key})");
    }
    if key.starts_with("zookeeper.") || key.starts_with("controller.") || key.starts_with("ssl.") {
        return " (not supported by Weir, a single-node PLAINTEXT broker)".to_string();
    }
    String::new()
}

impl BrokerConfig {
    /// Every broker key with its effective value and whether it was set (DescribeConfigs).
    pub fn describe(&self) -> Vec<(&'static str, String, bool)> {
        let log = &self.log;
        BROKER_CONFIG_KEYS
            .iter()
            .map(|&key| {
                if let Some(value) = self.given.get(key) {
                    return (key, value.clone(), true);
                }
                let value = match key {
                    "broker.id" => self.broker_id.to_string(),
                    "listeners" => format!("PLAINTEXT://{}", self.listener),
                    "advertised.listeners" => format!(
                        "PLAINTEXT://{}:{}",
                        self.advertised.host, self.advertised.port
                    ),
                    "admin.listener" => self
                        .admin_listener
                        .map_or_else(String::new, |address| address.to_string()),
                    "log.dirs" | "log.dir" => self.log_dir.display().to_string(),
                    "num.partitions" => self.num_partitions.to_string(),
                    "default.replication.factor" | "offsets.topic.replication.factor" => "1".into(),
                    "auto.create.topics.enable" => self.auto_create_topics.to_string(),
                    "delete.topic.enable" => self.delete_topic_enable.to_string(),
                    "log.retention.ms" => log.retention_ms.unwrap_or(-1).to_string(),
                    "log.retention.hours" => {
                        log.retention_ms.map_or(-1, |ms| ms / 3_600_000).to_string()
                    }
                    "log.retention.minutes" => {
                        log.retention_ms.map_or(-1, |ms| ms / 60_000).to_string()
                    }
                    "log.retention.bytes" => {
                        log.retention_bytes.map_or(-1, |b| b as i64).to_string()
                    }
                    "log.retention.check.interval.ms" => {
                        self.retention_check_interval_ms.to_string()
                    }
                    "log.segment.bytes" => log.segment_bytes.to_string(),
                    "log.roll.ms" => log.segment_ms.to_string(),
                    "log.roll.hours" => (log.segment_ms / 3_600_000).to_string(),
                    "socket.request.max.bytes" => self.socket_request_max_bytes.to_string(),
                    "connections.max.idle.ms" => self
                        .connections_max_idle_ms
                        .map_or(-1, |ms| ms as i64)
                        .to_string(),
                    "message.max.bytes" => topic::default_value("max.message.bytes", log),
                    "log.index.interval.bytes" => topic::default_value("index.interval.bytes", log),
                    "log.message.timestamp.type" => {
                        topic::default_value("message.timestamp.type", log)
                    }
                    "log.flush.interval.messages" => topic::default_value("flush.messages", log),
                    "log.flush.interval.ms" => topic::default_value("flush.ms", log),
                    "compression.type" => topic::compression_name(log.compression).to_string(),
                    "log.cleanup.policy" => topic::default_value("cleanup.policy", log),
                    "log.cleaner.delete.retention.ms" => {
                        topic::default_value("delete.retention.ms", log)
                    }
                    "log.cleaner.min.cleanable.ratio" => {
                        topic::default_value("min.cleanable.dirty.ratio", log)
                    }
                    "log.cleaner.min.compaction.lag.ms" => {
                        topic::default_value("min.compaction.lag.ms", log)
                    }
                    "log.cleaner.enable" => self.cleaner.enable.to_string(),
                    "log.cleaner.backoff.ms" => self.cleaner.backoff_ms.to_string(),
                    "log.cleaner.dedupe.buffer.size" => {
                        self.cleaner.dedupe_buffer_bytes.to_string()
                    }
                    "group.min.session.timeout.ms" => self.group.min_session_timeout_ms.to_string(),
                    "group.max.session.timeout.ms" => self.group.max_session_timeout_ms.to_string(),
                    "group.initial.rebalance.delay.ms" => {
                        self.group.initial_rebalance_delay_ms.to_string()
                    }
                    "offset.metadata.max.bytes" => self.group.offset_metadata_max_bytes.to_string(),
                    "offsets.topic.num.partitions" => self.offsets_topic_partitions.to_string(),
                    other => self.connections.describe(other).unwrap_or_default(),
                };
                (key, value, false)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_run_with_no_arguments() {
        let config = BrokerConfig::default();
        assert_eq!(config.listener.port(), 9092);
        assert_eq!(config.log_dir, PathBuf::from(DEFAULT_LOG_DIR));
        assert_eq!(config.num_partitions, 1);
        assert!(config.auto_create_topics);
        assert_eq!(config.log.retention_ms, Some(168 * 3_600_000));
        assert_eq!(config.socket_request_max_bytes, 104_857_600);
    }

    #[test]
    fn kafka_keys_are_applied() {
        let config = BrokerConfig::from_properties(props(&[
            ("broker.id", "7"),
            ("listeners", "PLAINTEXT://127.0.0.1:19092"),
            ("advertised.listeners", "PLAINTEXT://broker.example:9093"),
            ("log.dirs", "/tmp/x"),
            ("num.partitions", "3"),
            ("log.retention.hours", "1"),
            ("log.retention.bytes", "1000000"),
            ("log.segment.bytes", "1048576"),
            ("log.flush.interval.messages", "100"),
            ("message.max.bytes", "2000000"),
            ("auto.create.topics.enable", "false"),
        ]))
        .unwrap();
        assert_eq!(config.broker_id, 7);
        assert_eq!(config.listener.port(), 19092);
        assert_eq!(config.advertised.host, "broker.example");
        assert_eq!(config.advertised.port, 9093);
        assert_eq!(config.num_partitions, 3);
        assert_eq!(config.log.retention_ms, Some(3_600_000));
        assert_eq!(config.log.retention_bytes, Some(1_000_000));
        assert_eq!(config.log.segment_bytes, 1 << 20);
        assert_eq!(config.log.flush.interval_messages, Some(100));
        assert_eq!(config.log.max_message_bytes, 2_000_000);
        assert!(!config.auto_create_topics);
    }

    #[test]
    fn retention_ms_wins_over_hours_and_minus_one_keeps_forever() {
        let config = BrokerConfig::from_properties(props(&[
            ("log.retention.hours", "1"),
            ("log.retention.ms", "-1"),
        ]))
        .unwrap();
        assert_eq!(config.log.retention_ms, None);
    }

    #[test]
    fn unknown_and_invalid_keys_are_named() {
        let err =
            BrokerConfig::from_properties(props(&[("log.retention.hourz", "1")])).unwrap_err();
        assert!(err.to_string().contains("log.retention.hourz"), "{err}");
        let err = BrokerConfig::from_properties(props(&[("num.partitions", "zero")])).unwrap_err();
        assert!(err.to_string().contains("num.partitions"), "{err}");
        let err = BrokerConfig::from_properties(props(&[("default.replication.factor", "3")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("default.replication.factor"),
            "{err}"
        );
        let err =
            BrokerConfig::from_properties(props(&[("listeners", "SSL://:9093")])).unwrap_err();
        assert!(err.to_string().contains("listeners"), "{err}");
        let err = BrokerConfig::from_properties(props(&[("retention.ms", "1")])).unwrap_err();
        assert!(err.to_string().contains("topic config"), "{err}");
    }
}
