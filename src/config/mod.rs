//! Broker configuration: a `server.properties` file and `--override key=value` flags, with
//! Kafka's key names, turned into a typed [`BrokerConfig`]. Unknown keys and bad values are
//! errors that name the key, so a typo never silently runs a broker with a default.

mod broker_keys;
mod connections;
pub mod jaas;
pub mod listeners;
mod properties;
pub mod registry;
mod tls;
mod topic;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use crate::group::GroupConfig;
use crate::log::{LogConfig, ReadAheadConfig};

pub use broker_keys::{broker_key, BROKER_KEYS};
pub use connections::ConnectionConfig;
pub use listeners::{AdvertisedListener, ClientListener, SecurityProtocol};
pub use properties::parse_properties;
use registry::ConfigDef;
pub use topic::{topic_defs, topic_key, TopicConfigError, TopicConfigs, TopicKey, TOPIC_KEYS};

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

/// How this node takes part in a cluster (KRaft's keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `process.roles`: this node serves clients and partitions.
    pub broker_role: bool,
    /// `process.roles`: this node is a metadata quorum voter and may be the active controller.
    pub controller_role: bool,
    /// `controller.quorum.voters`: every voter's id and CONTROLLER listener. Empty: this node
    /// alone is the quorum.
    pub voters: BTreeMap<i32, SocketAddr>,
    /// `controller.quorum.bootstrap.servers`: where a broker-only node without
    /// `controller.quorum.voters` finds the controllers.
    pub bootstrap_servers: Vec<SocketAddr>,
    /// The CONTROLLER listener of `listeners` (named by `controller.listener.names`).
    pub controller_listener: Option<SocketAddr>,
    /// `broker.rack`
    pub rack: Option<String>,
    /// `broker.session.timeout.ms`
    pub session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`
    pub heartbeat_interval_ms: u64,
    /// `controller.quorum.election.timeout.ms`
    pub election_timeout_ms: u64,
    /// `controlled.shutdown.enable`
    pub controlled_shutdown: bool,
    /// `unclean.leader.election.enable` (the broker default)
    pub unclean_leader_election: bool,
    /// `replica.lag.time.max.ms`
    pub replica_lag_time_max_ms: u64,
    /// `replica.fetch.wait.max.ms`
    pub replica_fetch_wait_max_ms: u64,
    /// `replica.selector.class` is Kafka's RackAwareReplicaSelector: leaders send consumers
    /// to an in-sync follower in their rack (KIP-392).
    pub rack_aware_reads: bool,
    /// `auto.leader.rebalance.enable`
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`
    pub leader_imbalance_check_interval_s: u64,
}

impl ClusterConfig {
    /// One combined node is the whole cluster (no other voter).
    pub fn is_single_node(&self) -> bool {
        self.broker_role && self.controller_role && self.voters.len() <= 1
    }

    /// The controllers a broker-only node asks for the metadata.
    pub fn controller_addresses(&self) -> Vec<SocketAddr> {
        match self.voters.is_empty() {
            true => self.bootstrap_servers.clone(),
            false => self.voters.values().copied().collect(),
        }
    }
}

/// Everything `weir serve` runs with.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id` (or `broker.id`)
    pub broker_id: i32,
    /// The quorum and broker liveness keys.
    pub cluster: ClusterConfig,
    /// `listeners` but the controller's: the client listeners every shard binds with
    /// SO_REUSEPORT, each with its protocol and advertised endpoint; none on a
    /// controller-only node, which serves no clients.
    pub listeners: Vec<ClientListener>,
    /// `inter.broker.listener.name`: the listener other brokers reach this one on.
    pub inter_broker_listener: String,
    /// How this broker logs in to the others when the inter-broker listener is SASL
    /// (`sasl.mechanism.inter.broker.protocol` and the listener's JAAS `username`/`password`).
    pub inter_broker_login: Option<InterBrokerLogin>,
    /// `sasl.enabled.mechanisms` and `sasl.plain.users`: what SASL listeners accept.
    pub sasl: SaslConfig,
    /// The `ssl.*` keys as one TLS server configuration, when a listener is SSL or SASL_SSL.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// The TLS client configuration towards the others' TLS inter-broker listener (SSL or
    /// SASL_SSL `inter.broker.listener.name`, in a several-node cluster).
    pub inter_broker_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The controller listener's protocol, TLS and login (`listener.security.protocol.map`,
    /// `sasl.mechanism.controller.protocol`).
    pub controller_security: ControllerSecurity,
    /// `ssl.principal.mapping.rules`: a client certificate's subject to a principal name.
    pub ssl_principal_mapper: crate::security::principal::SslPrincipalMapper,
    /// `authorizer.class.name`, `super.users`, `allow.everyone.if.no.acl.found`: `None` when
    /// no authorizer is configured (every request allowed, as Kafka without one).
    pub authorizer: Option<crate::security::acl::AuthorizerConfig>,
    /// The records `weir storage format` put in `log.dirs` (read at start, not a key): the
    /// first active controller of a new cluster commits them.
    pub bootstrap_records: crate::metadata::bootstrap::BootstrapRecords,
    /// `quota.window.num` and `quota.window.size.seconds`: what client quotas are measured on.
    pub quota_window: crate::security::quota::QuotaWindow,
    /// `log.dirs`: one directory (Weir does not spread partitions over several disks yet).
    pub log_dir: PathBuf,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    pub num_partitions: i32,
    /// `default.replication.factor` (1 until Weir runs as a cluster).
    pub default_replication_factor: i16,
    /// `offsets.topic.replication.factor` (1 until Weir runs as a cluster).
    pub offsets_topic_replication_factor: i16,
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
    /// `connections.max.reauth.ms` (KIP-368): how long a SASL login lasts (`None`: for ever,
    /// Kafka's 0).
    pub connections_max_reauth_ms: Option<u64>,
    /// `admin.listener` (Weir's own key): the HTTP address of `/metrics`; `None` when set to
    /// an empty value.
    pub admin_listener: Option<SocketAddr>,
    /// Connection, request-memory and shutdown limits.
    pub connections: ConnectionConfig,
    /// The broker-wide defaults of every topic config (`log.*`, `message.max.bytes`).
    pub log: LogConfig,
    /// `log.read.ahead.bytes` and `log.read.ahead.memory.bytes` (Weir's own keys).
    pub read_ahead: ReadAheadConfig,
    /// `log.cleaner.*`: the compaction of `cleanup.policy=compact` topics.
    pub cleaner: CleanerConfig,
    /// `group.*` and `offset.metadata.max.bytes`: the group coordinator.
    pub group: GroupConfig,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets` when it is created.
    pub offsets_topic_partitions: i32,
    /// `transaction.*`: the transaction coordinator and `__transaction_state`.
    pub txn: TxnBrokerConfig,
    /// Every key as given, for DescribeConfigs.
    pub given: BTreeMap<String, String>,
}

/// SASL on SASL_PLAINTEXT listeners (KIP-84's mechanisms).
#[derive(Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// `sasl.enabled.mechanisms`, in the order given (SaslHandshake lists them so).
    pub mechanisms: Vec<crate::security::sasl::SaslMechanism>,
    /// `sasl.plain.users`: PLAIN's users and passwords.
    pub plain_users: BTreeMap<String, String>,
    /// `listener.name.<listener>.plain.sasl.jaas.config`'s `user_NAME="password"` options, by
    /// listener name (upper case): on such a listener, its users replace `sasl.plain.users`.
    pub listener_plain_users: BTreeMap<String, BTreeMap<String, String>>,
}

impl SaslConfig {
    /// The PLAIN password of `user` on `listener`.
    pub fn plain_password(&self, listener: &str, user: &str) -> Option<&String> {
        self.listener_plain_users
            .get(&listener.to_ascii_uppercase())
            .unwrap_or(&self.plain_users)
            .get(user)
    }
}

/// A broker's SASL login to the other brokers.
#[derive(Clone, PartialEq, Eq)]
pub struct InterBrokerLogin {
    pub mechanism: crate::security::sasl::SaslMechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for InterBrokerLogin {
    // The password stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterBrokerLogin")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish()
    }
}

/// How the controller listener (`controller.listener.names`) is secured, by its protocol in
/// `listener.security.protocol.map`: what voters serve on it and how every node, broker-only
/// ones included, reaches the voters.
#[derive(Debug, Clone)]
pub struct ControllerSecurity {
    /// The listener's name (its JAAS entries are keyed by it).
    pub name: String,
    pub protocol: SecurityProtocol,
    /// The voters' TLS server side (SSL, SASL_SSL), from the `ssl.*` keys.
    pub server_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// The TLS client side towards the voters (SSL, SASL_SSL): the trust store verifies them,
    /// the key store is this node's certificate.
    pub client_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The login towards the voters (SASL_PLAINTEXT, SASL_SSL).
    pub login: Option<InterBrokerLogin>,
    /// The host each voter and bootstrap server was given as, by address: the name a voter's
    /// certificate must hold.
    pub hosts: BTreeMap<SocketAddr, String>,
}

impl ControllerSecurity {
    /// The name to check a voter's certificate against.
    pub fn host_of(&self, address: SocketAddr) -> String {
        self.hosts
            .get(&address)
            .cloned()
            .unwrap_or_else(|| address.ip().to_string())
    }
}

/// The inter-broker login when the inter-broker listener is SASL: the mechanism from
/// `sasl.mechanism.inter.broker.protocol`, the user from that mechanism's JAAS entry on the
/// listener, as Kafka takes them.
fn inter_broker_login(
    s: &Settings<'_>,
    listeners: &[ClientListener],
    name: &str,
) -> Result<Option<InterBrokerLogin>, ConfigError> {
    let mechanism_key = "sasl.mechanism.inter.broker.protocol";
    let mechanism_text = s.text(mechanism_key).unwrap_or("GSSAPI");
    let Some(listener) = listeners.iter().find(|l| l.name == name) else {
        return Ok(None);
    };
    if !listener.protocol.uses_sasl() {
        return Ok(None);
    }
    let mechanism =
        crate::security::sasl::SaslMechanism::parse(mechanism_text).ok_or_else(|| {
            ConfigError::invalid(
                mechanism_key,
                mechanism_text,
                "the inter-broker listener is SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
            )
        })?;
    listener_login(s, name, mechanism, "the inter-broker listener").map(Some)
}

/// The login towards the voters when the controller listener is SASL:
/// `sasl.mechanism.controller.protocol` and that mechanism's JAAS entry on the controller
/// listener, as Kafka's KRaft nodes take them. PLAIN only: SCRAM credentials live in the
/// metadata the controllers serve, so a voter could not check a login before it has the
/// metadata, and the metadata arrives over this very listener.
fn controller_login(
    s: &Settings<'_>,
    name: &str,
    protocol: SecurityProtocol,
) -> Result<Option<InterBrokerLogin>, ConfigError> {
    use crate::security::sasl::SaslMechanism;
    let mechanism_key = "sasl.mechanism.controller.protocol";
    let mechanism_text = s.text(mechanism_key).unwrap_or("GSSAPI");
    if !protocol.uses_sasl() {
        return Ok(None);
    }
    match SaslMechanism::parse(mechanism_text) {
        Some(SaslMechanism::Plain) => {
            listener_login(s, name, SaslMechanism::Plain, "the controller listener").map(Some)
        }
        Some(SaslMechanism::Scram(_)) => Err(ConfigError::invalid(
            mechanism_key,
            mechanism_text,
            "the controller listener takes PLAIN: SCRAM credentials are kept in the metadata the controllers serve over this listener",
        )),
        None => Err(ConfigError::invalid(
            mechanism_key,
            mechanism_text,
            "the controller listener is SASL: PLAIN (Kafka's default GSSAPI is not offered)",
        )),
    }
}

/// The `username` and `password` of `listener.name.<listener>.<mechanism>.sasl.jaas.config`:
/// this node's own login on a SASL listener (`what` names it in the error).
fn listener_login(
    s: &Settings<'_>,
    listener: &str,
    mechanism: crate::security::sasl::SaslMechanism,
    what: &str,
) -> Result<InterBrokerLogin, ConfigError> {
    let jaas_key = format!(
        "listener.name.{}.{}.sasl.jaas.config",
        listener.to_ascii_lowercase(),
        mechanism.name().to_ascii_lowercase()
    );
    let entry = s
        .given
        .get(&jaas_key)
        .and_then(|text| jaas::JaasEntry::parse(text).ok());
    let option = |key: &str| entry.as_ref().and_then(|e| e.options.get(key).cloned());
    match (option("username"), option("password")) {
        (Some(username), Some(password)) => Ok(InterBrokerLogin {
            mechanism,
            username,
            password,
        }),
        _ => Err(ConfigError::invalid(
            &jaas_key,
            "(hidden)",
            format!("{what} is SASL: this entry needs username=\"...\" password=\"...\" for the node's own login"),
        )),
    }
}

/// `listener.name.<listener>.<mechanism>.sasl.jaas.config`: (listener, mechanism), lower case
/// as Kafka writes them.
fn listener_jaas_key(key: &str) -> Option<(&str, &str)> {
    let rest = key
        .strip_prefix("listener.name.")?
        .strip_suffix(".sasl.jaas.config")?;
    let (listener, mechanism) = rest.split_once('.')?;
    (!listener.is_empty()).then_some((listener, mechanism))
}

/// Checks a listener's JAAS entry: PlainLoginModule for PLAIN, ScramLoginModule for SCRAM
/// (whose credentials live in the metadata, not here).
fn validate_listener_jaas(key: &str, value: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::invalid(key, "(hidden)", reason);
    let (_, mechanism) = listener_jaas_key(key).ok_or_else(|| invalid("not a JAAS key"))?;
    let entry = jaas::JaasEntry::parse(value).map_err(invalid)?;
    let expected = match mechanism {
        "plain" => jaas::PLAIN_LOGIN_MODULE,
        "scram-sha-256" | "scram-sha-512" => jaas::SCRAM_LOGIN_MODULE,
        _ => {
            return Err(invalid(
                "the mechanism is plain, scram-sha-256 or scram-sha-512",
            ))
        }
    };
    if entry.module != expected {
        return Err(invalid(&format!(
            "the {mechanism} login module is {expected}"
        )));
    }
    Ok(())
}

impl std::fmt::Debug for SaslConfig {
    // Passwords stay out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanisms", &self.mechanisms)
            .field("plain_users", &self.plain_users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SaslConfig {
    fn parse(s: &Settings<'_>) -> Result<Self, ConfigError> {
        let text = s.text("sasl.enabled.mechanisms").unwrap_or_default();
        let mut mechanisms = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let mechanism = crate::security::sasl::SaslMechanism::parse(name).ok_or_else(|| {
                ConfigError::invalid(
                    "sasl.enabled.mechanisms",
                    text,
                    format!("{name}: Weir offers PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512"),
                )
            })?;
            if !mechanisms.contains(&mechanism) {
                mechanisms.push(mechanism);
            }
        }
        let users_text = s.text("sasl.plain.users").unwrap_or_default();
        let mut plain_users = BTreeMap::new();
        for pair in users_text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            // The value is a password list: never echo it in the error.
            let (user, password) = pair
                .split_once(':')
                .filter(|(u, p)| !u.is_empty() && !p.is_empty())
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "sasl.plain.users",
                        "(hidden)",
                        "expected user:password,... with neither empty",
                    )
                })?;
            plain_users.insert(user.to_string(), password.to_string());
        }
        let mut listener_plain_users = BTreeMap::new();
        for (key, value) in s.given.iter() {
            if let Some((listener, "plain")) = listener_jaas_key(key) {
                // Validated with the other keys: the entry parses.
                if let Ok(entry) = jaas::JaasEntry::parse(value) {
                    listener_plain_users.insert(listener.to_ascii_uppercase(), entry.plain_users());
                }
            }
        }
        Ok(SaslConfig {
            mechanisms,
            plain_users,
            listener_plain_users,
        })
    }
}

/// `SaslConfig::parse`, with each listener a JAAS key names checked to exist (the controller
/// listener's name counts on every node: a broker-only node logs in to it).
fn sasl_for(
    s: &Settings<'_>,
    listeners: &[ClientListener],
    controller_name: &str,
) -> Result<SaslConfig, ConfigError> {
    let sasl = SaslConfig::parse(s)?;
    for name in sasl.listener_plain_users.keys() {
        let known = name.eq_ignore_ascii_case(controller_name)
            || listeners.iter().any(|l| l.name.eq_ignore_ascii_case(name));
        if !known {
            return Err(ConfigError::invalid(
                &format!(
                    "listener.name.{}.plain.sasl.jaas.config",
                    name.to_ascii_lowercase()
                ),
                "(hidden)",
                "no listener of that name in listeners",
            ));
        }
    }
    Ok(sasl)
}

fn principal_mapper(
    s: &Settings<'_>,
) -> Result<crate::security::principal::SslPrincipalMapper, ConfigError> {
    let key = "ssl.principal.mapping.rules";
    let text = s.text(key).unwrap_or("DEFAULT");
    crate::security::principal::SslPrincipalMapper::parse(text)
        .map_err(|e| ConfigError::invalid(key, text, e.to_string()))
}

fn authorizer(
    s: &Settings<'_>,
) -> Result<Option<crate::security::acl::AuthorizerConfig>, ConfigError> {
    let text = s.text("super.users").unwrap_or_default();
    let mut super_users = Vec::new();
    for principal in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        if !crate::security::acl::is_principal(principal) {
            return Err(ConfigError::invalid(
                "super.users",
                text,
                format!("{principal} is not a principal (Type:name, as User:admin)"),
            ));
        }
        super_users.push(principal.to_string());
    }
    let allow_if_no_acl = s.flag("allow.everyone.if.no.acl.found")?;
    if s.text("authorizer.class.name")
        .unwrap_or_default()
        .is_empty()
    {
        return Ok(None);
    }
    Ok(Some(crate::security::acl::AuthorizerConfig {
        super_users,
        allow_if_no_acl,
    }))
}

/// The transaction coordinator's keys (Kafka's `transaction.*`).
#[derive(Debug, Clone, Copy)]
pub struct TxnBrokerConfig {
    /// `transaction.state.log.num.partitions`
    pub state_partitions: i32,
    /// `transaction.state.log.replication.factor`
    pub state_replication_factor: i16,
    /// `transaction.state.log.min.isr`
    pub state_min_isr: i16,
    /// `transaction.state.log.segment.bytes`
    pub state_segment_bytes: i32,
    /// `transaction.max.timeout.ms` and `transactional.id.expiration.ms`
    pub coordinator: crate::txn::TxnConfig,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    pub cleanup_interval_ms: u64,
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

/// The given broker keys, each checked against [`BROKER_KEYS`], read with the table's defaults:
/// the one place a key's default and rule live.
pub(crate) struct Settings<'a> {
    given: &'a BTreeMap<String, String>,
    /// The keys the parser asked for: a test checks that it asks for every key of the table
    /// (a key declared but never read would be accepted and silently ignored).
    read: std::cell::RefCell<std::collections::BTreeSet<&'static str>>,
}

impl<'a> Settings<'a> {
    /// Refuses an unknown key or a value its definition does not accept, naming the key.
    fn validated(given: &'a BTreeMap<String, String>) -> Result<Self, ConfigError> {
        for (key, value) in given {
            if listener_jaas_key(key).is_some() {
                validate_listener_jaas(key, value)?;
                continue;
            }
            let def = broker_key(key).ok_or_else(|| ConfigError::UnknownKey {
                key: key.clone(),
                hint: unknown_key_hint(key),
            })?;
            def.validate(value)
                .map_err(|reason| ConfigError::invalid(key, value, reason))?;
        }
        Ok(Settings {
            given,
            read: Default::default(),
        })
    }

    /// The value given for `key`, if any.
    pub(crate) fn given(&self, key: &str) -> Option<&'a str> {
        match broker_key(key) {
            Some(def) => {
                self.read.borrow_mut().insert(def.name);
            }
            None => debug_assert!(false, "`{key}` is not in BROKER_KEYS"),
        }
        self.given.get(key).map(|v| v.trim())
    }

    /// The given value, else the table's default (`None`: Kafka's null).
    pub(crate) fn text(&self, key: &str) -> Option<&'a str> {
        self.given(key)
            .or_else(|| broker_key(key).and_then(|def| def.default))
    }

    /// The value as `T`. Defaults are in the table, so only a key whose default is null can be
    /// missing; callers read those with [`Settings::given`].
    pub(crate) fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<T, ConfigError> {
        let text = self
            .text(key)
            .ok_or_else(|| ConfigError::invalid(key, "", "no value and no default"))?;
        text.parse::<T>()
            .map_err(|_| ConfigError::invalid(key, text, "not a number in range"))
    }

    pub(crate) fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        let text = self.text(key).unwrap_or("false");
        match text.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ConfigError::invalid(key, text, "must be true or false")),
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig::from_properties(BTreeMap::new()).expect("defaults are valid")
    }
}

impl BrokerConfig {
    /// Builds the config from `key=value` pairs (file first, overrides applied on top).
    pub fn from_properties(props: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let config = Self::build(&Settings::validated(&props)?)?;
        Ok(BrokerConfig {
            given: props,
            ..config
        })
    }

    fn build(s: &Settings<'_>) -> Result<Self, ConfigError> {
        let broker_id = match s.given("node.id") {
            Some(_) => s.parse::<i32>("node.id")?,
            None => s.parse::<i32>("broker.id")?,
        };
        let listener_text = s.text("listeners").unwrap_or(DEFAULT_LISTENER);
        let controller_name = s.text("controller.listener.names").unwrap_or("CONTROLLER");
        let inter_broker_listener = s
            .text("inter.broker.listener.name")
            .unwrap_or("PLAINTEXT")
            .to_string();
        let roles = s.text("process.roles").unwrap_or("broker,controller");
        let broker_role = roles.split(',').any(|r| r.trim() == "broker");
        let controller_role = roles.split(',').any(|r| r.trim() == "controller");
        let parsed = listeners::parse(&listeners::ListenerKeys {
            listeners: listener_text,
            protocol_map: s
                .text("listener.security.protocol.map")
                .unwrap_or(listeners::DEFAULT_PROTOCOL_MAP),
            advertised: s.given("advertised.listeners"),
            controller_name,
        })?;
        let controller_listener = parsed.controller;
        let controller_protocol = parsed.controller_protocol;
        let voters_text = s.text("controller.quorum.voters").unwrap_or("");
        let voters = parse_voters(voters_text)?;
        let bootstrap_text = s.text("controller.quorum.bootstrap.servers").unwrap_or("");
        let bootstrap_servers =
            parse_addresses("controller.quorum.bootstrap.servers", bootstrap_text)?;
        let listeners = check_roles(RolesCheck {
            broker_id,
            broker_role,
            controller_role,
            roles,
            voters: &voters,
            voters_text,
            bootstrap_servers: &bootstrap_servers,
            listeners: parsed.client,
            controller_listener,
            listener_text,
            controller_name,
        })?;
        check_inter_broker_listener(&listeners, &inter_broker_listener)?;
        // One combined node has no other broker to reach: no inter-broker TLS client.
        let single_node = broker_role && controller_role && voters.len() <= 1;
        // Read only when a listener needs them, so a key file is not required otherwise.
        let tls_keys = tls::TlsKeys::read(s);
        let tls = match listeners.iter().any(|l| l.protocol.uses_tls()) {
            true => Some(tls::server_config(&tls_keys)?),
            false => None,
        };
        let inter_broker_tls = match listeners
            .iter()
            .find(|l| l.name == inter_broker_listener)
            .is_some_and(|l| l.protocol.uses_tls() && !single_node)
        {
            true => Some(tls::client_config(&tls_keys, "inter-broker listener")?),
            false => None,
        };
        let controller_security = ControllerSecurity {
            name: controller_name.to_string(),
            protocol: controller_protocol,
            server_tls: match controller_listener.is_some() && controller_protocol.uses_tls() {
                true => Some(tls::server_config(&tls_keys)?),
                false => None,
            },
            client_tls: match controller_protocol.uses_tls() && !single_node {
                true => Some(tls::client_config(&tls_keys, "controller listener")?),
                false => None,
            },
            login: controller_login(s, controller_name, controller_protocol)?,
            hosts: given_hosts((voters_text, &voters), (bootstrap_text, &bootstrap_servers)),
        };
        let cluster = ClusterConfig {
            broker_role,
            controller_role,
            voters,
            bootstrap_servers,
            controller_listener,
            rack: s.given("broker.rack").map(str::to_string),
            session_timeout_ms: s.parse("broker.session.timeout.ms")?,
            heartbeat_interval_ms: s.parse("broker.heartbeat.interval.ms")?,
            election_timeout_ms: s.parse("controller.quorum.election.timeout.ms")?,
            controlled_shutdown: s.flag("controlled.shutdown.enable")?,
            unclean_leader_election: s.flag("unclean.leader.election.enable")?,
            replica_lag_time_max_ms: s.parse("replica.lag.time.max.ms")?,
            replica_fetch_wait_max_ms: s.parse("replica.fetch.wait.max.ms")?,
            rack_aware_reads: s.given("replica.selector.class")
                == Some(crate::replication::read_replica::RACK_AWARE_SELECTOR),
            auto_leader_rebalance: s.flag("auto.leader.rebalance.enable")?,
            leader_imbalance_check_interval_s: s
                .parse("leader.imbalance.check.interval.seconds")?,
        };
        // Kafka's rule: a long poll longer than the lag allowed would drop idle followers.
        if cluster.replica_fetch_wait_max_ms > cluster.replica_lag_time_max_ms {
            return Err(ConfigError::invalid(
                "replica.fetch.wait.max.ms",
                &cluster.replica_fetch_wait_max_ms.to_string(),
                "must be at most replica.lag.time.max.ms",
            ));
        }

        let (dirs_key, dirs) = match s.given("log.dirs") {
            Some(dirs) => ("log.dirs", dirs),
            None => ("log.dir", s.text("log.dir").unwrap_or(DEFAULT_LOG_DIR)),
        };
        if dirs.contains(',') {
            return Err(ConfigError::invalid(
                dirs_key,
                dirs,
                "Weir uses one log directory; give a single path",
            ));
        }
        if dirs.is_empty() {
            return Err(ConfigError::invalid(dirs_key, dirs, "empty path"));
        }
        let log_dir = PathBuf::from(dirs);

        let idle = s.parse::<i64>("connections.max.idle.ms")?;
        let connections_max_idle_ms = (idle > 0).then_some(idle as u64);
        let admin_text = s.text("admin.listener").unwrap_or_default();
        let admin_listener = match admin_text {
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
        let cleaner = CleanerConfig {
            enable: s.flag("log.cleaner.enable")?,
            backoff_ms: s.parse("log.cleaner.backoff.ms")?,
            dedupe_buffer_bytes: s.parse("log.cleaner.dedupe.buffer.size")?,
        };
        let group = GroupConfig {
            min_session_timeout_ms: s.parse("group.min.session.timeout.ms")?,
            max_session_timeout_ms: s.parse("group.max.session.timeout.ms")?,
            initial_rebalance_delay_ms: s.parse("group.initial.rebalance.delay.ms")?,
            offset_metadata_max_bytes: s.parse("offset.metadata.max.bytes")?,
        };
        if group.min_session_timeout_ms > group.max_session_timeout_ms {
            return Err(ConfigError::invalid(
                "group.min.session.timeout.ms",
                &group.min_session_timeout_ms.to_string(),
                "larger than group.max.session.timeout.ms",
            ));
        }
        let sasl = sasl_for(s, &listeners, controller_name)?;
        let plain = crate::security::sasl::SaslMechanism::Plain;
        if controller_security.login.is_some() && !sasl.mechanisms.contains(&plain) {
            return Err(ConfigError::invalid(
                "sasl.enabled.mechanisms",
                s.text("sasl.enabled.mechanisms").unwrap_or_default(),
                "the SASL controller listener logs in with PLAIN: enable it",
            ));
        }
        let inter_broker_login = inter_broker_login(s, &listeners, &inter_broker_listener)?;
        Ok(BrokerConfig {
            broker_id,
            cluster,
            listeners,
            inter_broker_listener,
            inter_broker_login,
            sasl,
            tls,
            inter_broker_tls,
            controller_security,
            ssl_principal_mapper: principal_mapper(s)?,
            authorizer: authorizer(s)?,
            bootstrap_records: Default::default(),
            quota_window: crate::security::quota::QuotaWindow {
                samples: s.parse("quota.window.num")?,
                sample_ms: s.parse::<u64>("quota.window.size.seconds")? * 1000,
            },
            log_dir,
            num_partitions: s.parse("num.partitions")?,
            default_replication_factor: s.parse("default.replication.factor")?,
            offsets_topic_replication_factor: s.parse("offsets.topic.replication.factor")?,
            auto_create_topics: s.flag("auto.create.topics.enable")?,
            delete_topic_enable: s.flag("delete.topic.enable")?,
            socket_request_max_bytes: s.parse("socket.request.max.bytes")?,
            retention_check_interval_ms: s.parse("log.retention.check.interval.ms")?,
            connections_max_idle_ms,
            connections_max_reauth_ms: Some(s.parse::<u64>("connections.max.reauth.ms")?)
                .filter(|ms| *ms > 0),
            admin_listener,
            connections: ConnectionConfig::parse(s)?,
            log: broker_log_config(s)?,
            read_ahead: ReadAheadConfig {
                window_bytes: s.parse("log.read.ahead.bytes")?,
                memory_bytes: s.parse("log.read.ahead.memory.bytes")?,
            },
            cleaner,
            group,
            offsets_topic_partitions: s.parse("offsets.topic.num.partitions")?,
            txn: TxnBrokerConfig {
                state_partitions: s.parse("transaction.state.log.num.partitions")?,
                state_replication_factor: s.parse("transaction.state.log.replication.factor")?,
                state_min_isr: s.parse("transaction.state.log.min.isr")?,
                state_segment_bytes: s.parse("transaction.state.log.segment.bytes")?,
                coordinator: crate::txn::TxnConfig {
                    max_timeout_ms: s.parse("transaction.max.timeout.ms")?,
                    expiration_ms: s.parse::<i64>("transactional.id.expiration.ms")?,
                },
                cleanup_interval_ms: s
                    .parse("transaction.abort.timed.out.transaction.cleanup.interval.ms")?,
            },
            given: BTreeMap::new(),
        })
    }
}

/// The broker-level `log.*` keys as the defaults of every topic's [`LogConfig`].
fn broker_log_config(s: &Settings<'_>) -> Result<LogConfig, ConfigError> {
    let mut log = LogConfig::default();
    // A broker key that sets a topic key's default in the same unit (its first synonym, e.g.
    // log.retention.ms for retention.ms) goes through the topic key's own applier, so a
    // broker default and a topic override of one setting mean the same thing.
    for key in TOPIC_KEYS {
        let (Some(apply), Some(&broker)) = (key.apply, key.broker_synonyms.first()) else {
            continue;
        };
        if broker_key(broker).is_none() {
            continue; // a Kafka broker key Weir does not take
        }
        if let Some(value) = s.given(broker) {
            apply(&mut log, value);
        }
    }
    // Kafka's precedence: log.retention.ms over .minutes over .hours; -1 keeps forever.
    if s.given("log.retention.ms").is_none() {
        let retention_ms = if s.given("log.retention.minutes").is_some() {
            s.parse::<i64>("log.retention.minutes")?
                .saturating_mul(60_000)
        } else {
            s.parse::<i64>("log.retention.hours")?
                .saturating_mul(3_600_000)
        };
        log.retention_ms = (retention_ms >= 0).then_some(retention_ms);
    }
    if s.given("log.roll.ms").is_none() {
        log.segment_ms = s.parse::<i64>("log.roll.hours")?.saturating_mul(3_600_000);
    }
    Ok(log)
}

/// What `process.roles` asks of the other cluster keys.
struct RolesCheck<'a> {
    broker_id: i32,
    broker_role: bool,
    controller_role: bool,
    roles: &'a str,
    voters: &'a BTreeMap<i32, SocketAddr>,
    voters_text: &'a str,
    bootstrap_servers: &'a [SocketAddr],
    listeners: Vec<ClientListener>,
    controller_listener: Option<SocketAddr>,
    listener_text: &'a str,
    controller_name: &'a str,
}

/// Kafka's rule: brokers reach each other on a listener this broker has and advertises. A
/// controller-only node has no client listener and no inter-broker one.
fn check_inter_broker_listener(
    listeners: &[ClientListener],
    name: &str,
) -> Result<(), ConfigError> {
    if listeners.is_empty() {
        return Ok(());
    }
    match listeners.iter().find(|l| l.name == name) {
        Some(l) if l.advertised.is_some() => {}
        Some(_) => {
            return Err(ConfigError::invalid(
                "inter.broker.listener.name",
                name,
                "the inter-broker listener must be in advertised.listeners",
            ))
        }
        None => {
            return Err(ConfigError::invalid(
                "inter.broker.listener.name",
                name,
                format!(
                    "not a client listener of listeners ({})",
                    listeners
                        .iter()
                        .map(|l| l.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }
    Ok(())
}

/// Kafka's rules for a node's roles (`KafkaConfig` validation): a controller is a voter with
/// a CONTROLLER listener; a broker-only node is not a voter, has no CONTROLLER listener, and
/// is told where the controllers are. Returns the client listeners (a controller-only node
/// has none).
fn check_roles(c: RolesCheck<'_>) -> Result<Vec<ClientListener>, ConfigError> {
    let voter = c.voters.contains_key(&c.broker_id);
    let voters_error =
        |why: String| ConfigError::invalid("controller.quorum.voters", c.voters_text, why);
    if c.controller_role {
        if c.voters.is_empty() && !c.bootstrap_servers.is_empty() {
            return Err(ConfigError::invalid(
                "controller.quorum.bootstrap.servers",
                &c.bootstrap_servers.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(","),
                "a controller needs controller.quorum.voters: Weir's quorum has a static set of voters (KIP-853's dynamic quorums are not supported)",
            ));
        }
        if !c.voters.is_empty() && !voter {
            return Err(voters_error(format!(
                "node {} has the controller role (process.roles={}) but is not a voter",
                c.broker_id, c.roles
            )));
        }
        if c.controller_listener.is_none() && (c.voters.len() > 1 || !c.broker_role) {
            return Err(ConfigError::invalid(
                "listeners",
                c.listener_text,
                format!(
                    "a quorum voter needs a {}://host:port listener",
                    c.controller_name
                ),
            ));
        }
        if !c.broker_role && c.voters.is_empty() {
            return Err(voters_error(
                "a controller-only node needs controller.quorum.voters".into(),
            ));
        }
    } else {
        if voter {
            return Err(voters_error(format!(
                "node {} is broker-only (process.roles=broker) and must not be a voter",
                c.broker_id
            )));
        }
        if c.voters.is_empty() && c.bootstrap_servers.is_empty() {
            return Err(voters_error(
                "a broker-only node needs controller.quorum.voters or controller.quorum.bootstrap.servers to find the controllers".into(),
            ));
        }
        if c.controller_listener.is_some() {
            return Err(ConfigError::invalid(
                "listeners",
                c.listener_text,
                format!(
                    "a broker-only node has no {} listener (controllers bind it)",
                    c.controller_name
                ),
            ));
        }
    }
    match (c.broker_role, c.listeners.is_empty()) {
        (true, true) => Err(ConfigError::invalid(
            "listeners",
            c.listener_text,
            "no client listener (NAME://host:port)",
        )),
        (false, false) => Err(ConfigError::invalid(
            "listeners",
            c.listener_text,
            format!(
                "a controller-only node (process.roles=controller) serves no clients: give only its {}://host:port listener",
                c.controller_name
            ),
        )),
        _ => Ok(c.listeners),
    }
}

/// `host:port,...`
fn parse_addresses(key: &str, text: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(|item| {
            item.to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| ConfigError::invalid(key, text, format!("{item} does not resolve")))
        })
        .collect()
}

/// The host each voter (`id@host:port` in `voters_text`) and bootstrap server was given as, by
/// the address it was resolved to when parsed (no second lookup).
fn given_hosts(
    (voters_text, voters): (&str, &BTreeMap<i32, SocketAddr>),
    (bootstrap_text, bootstrap): (&str, &[SocketAddr]),
) -> BTreeMap<SocketAddr, String> {
    let host = |endpoint: &str| {
        let (host, _) = endpoint.rsplit_once(':')?;
        Some(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        )
    };
    let entries = |text: &str| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut hosts = BTreeMap::new();
    for item in entries(voters_text) {
        let Some((id, endpoint)) = item.split_once('@') else {
            continue;
        };
        let address = id.parse::<i32>().ok().and_then(|id| voters.get(&id));
        if let (Some(address), Some(host)) = (address, host(endpoint)) {
            hosts.insert(*address, host);
        }
    }
    // parse_addresses keeps the order of the non-empty items.
    for (item, address) in entries(bootstrap_text).iter().zip(bootstrap) {
        if let Some(host) = host(item) {
            hosts.insert(*address, host);
        }
    }
    hosts
}

/// `controller.quorum.voters`: `id@host:port,...`.
fn parse_voters(text: &str) -> Result<BTreeMap<i32, SocketAddr>, ConfigError> {
    let mut voters = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = |why: &str| ConfigError::invalid("controller.quorum.voters", text, why);
        let (id, address) = item
            .split_once('@')
            .ok_or_else(|| bad("expected id@host:port entries"))?;
        let id = id
            .parse::<i32>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| bad("a voter id is not a non-negative number"))?;
        let address = address
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| bad("a voter's host:port does not resolve"))?;
        if voters.insert(id, address).is_some() {
            return Err(bad("a voter id appears twice"));
        }
    }
    Ok(voters)
}

/// `PLAINTEXT://host:port` (an empty host means all interfaces, as in Kafka).
fn unknown_key_hint(key: &str) -> String {
    if topic_key(key).is_some() && key != "compression.type" {
        return format!(" (a topic config: set it per topic, or as its broker default log.{key})");
    }
    if key.starts_with("zookeeper.") {
        return " (Weir's metadata quorum is KRaft-style: controller.quorum.voters)".to_string();
    }
    if key.starts_with("controller.") || key.starts_with("ssl.") || key.starts_with("sasl.") {
        return " (not supported by Weir yet)".to_string();
    }
    String::new()
}

/// The README's tables of keys (between its `config-keys` markers) and
/// `weir serve --help-config markdown`.
pub fn keys_markdown() -> String {
    format!(
        "### Broker keys\n\n{}\n### Topic keys\n\n{}",
        registry::markdown_table(BROKER_KEYS),
        registry::markdown_table(topic_defs())
    )
}

/// `weir serve --help-config`: every key, its type, default, valid values and meaning.
pub fn keys_text() -> String {
    let mut text = String::new();
    let tables: [(&str, Box<dyn Iterator<Item = &ConfigDef>>); 2] = [
        (
            "Broker keys (server.properties, --override)",
            Box::new(BROKER_KEYS.iter()),
        ),
        (
            "Topic keys (CreateTopics, AlterConfigs, weir topic create --config)",
            Box::new(topic_defs()),
        ),
    ];
    for (title, table) in tables {
        text.push_str(title);
        text.push_str("\n\n");
        for def in table {
            let rule = def.rule();
            text.push_str(&format!(
                "  {} ({}, default {}{})\n      {}\n",
                def.name,
                def.kind.name(),
                def.default
                    .map_or("null", |d| if d.is_empty() { "\"\"" } else { d }),
                if rule.is_empty() {
                    String::new()
                } else {
                    format!("; {rule}")
                },
                def.documentation(),
            ));
        }
        text.push('\n');
    }
    text
}

/// Where a config's value comes from, numbered as DescribeConfigs answers it (`config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    TopicConfig = 1,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
}

/// One key as DescribeConfigs shows it: its definition, effective value, where that comes from,
/// and its synonyms in Kafka's order of precedence (v1+).
#[derive(Debug, Clone)]
pub struct DescribedConfig {
    pub def: &'static registry::ConfigDef,
    pub value: Option<String>,
    pub source: ConfigSource,
    pub synonyms: Vec<ConfigSynonym>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: &'static str,
    pub value: Option<String>,
    pub source: ConfigSource,
}

impl BrokerConfig {
    /// The listener other brokers reach this one on (`inter.broker.listener.name`); `None` on a
    /// controller-only node.
    pub fn inter_broker(&self) -> Option<&ClientListener> {
        self.listeners
            .iter()
            .find(|l| l.name == self.inter_broker_listener)
    }

    /// This broker's advertised endpoints, as BrokerRegistration carries them.
    pub fn advertised_endpoints(&self) -> Vec<crate::metadata::model::Endpoint> {
        self.listeners
            .iter()
            .filter_map(|l| {
                let advertised = l.advertised.as_ref()?;
                Some(crate::metadata::model::Endpoint {
                    name: l.name.clone(),
                    host: advertised.host.clone(),
                    port: advertised.port,
                    protocol: l.protocol.id(),
                })
            })
            .collect()
    }

    /// Every broker key with its value: as given in server.properties / `--override`
    /// (STATIC_BROKER_CONFIG) or the table's default (DEFAULT_CONFIG), as Kafka shows them.
    pub fn describe(&self) -> Vec<DescribedConfig> {
        BROKER_KEYS
            .iter()
            .map(|def| {
                let default = ConfigSynonym {
                    name: def.name,
                    value: def.default.map(str::to_string),
                    source: ConfigSource::DefaultConfig,
                };
                match self.given.get(def.name) {
                    Some(value) => DescribedConfig {
                        def,
                        value: Some(value.trim().to_string()),
                        source: ConfigSource::StaticBrokerConfig,
                        synonyms: vec![
                            ConfigSynonym {
                                name: def.name,
                                value: Some(value.trim().to_string()),
                                source: ConfigSource::StaticBrokerConfig,
                            },
                            default,
                        ],
                    },
                    None => DescribedConfig {
                        def,
                        value: default.value.clone(),
                        source: ConfigSource::DefaultConfig,
                        synonyms: vec![default],
                    },
                }
            })
            .collect()
    }

    /// Every topic key for a topic with `overrides`: the override (TOPIC_CONFIG), else the
    /// broker's key that sets its default (STATIC_BROKER_CONFIG), else the default.
    pub fn describe_topic(&self, overrides: &TopicConfigs) -> Vec<DescribedConfig> {
        topic::TOPIC_KEYS
            .iter()
            .map(|key| {
                let mut synonyms = Vec::new();
                if let Some(value) = overrides.overrides().get(key.def.name) {
                    synonyms.push(ConfigSynonym {
                        name: key.def.name,
                        value: Some(value.clone()),
                        source: ConfigSource::TopicConfig,
                    });
                }
                for &broker in key.broker_synonyms {
                    if let Some(value) = self.given.get(broker) {
                        synonyms.push(ConfigSynonym {
                            name: broker,
                            value: Some(value.trim().to_string()),
                            source: ConfigSource::StaticBrokerConfig,
                        });
                    }
                }
                // The default, named by the broker key that sets it (where Weir has one). Weir's
                // built-in log defaults are Kafka's (a unit test holds them equal), so the
                // table's default is the value.
                let default_name = key
                    .broker_synonyms
                    .iter()
                    .copied()
                    .find(|name| broker_key(name).is_some())
                    .unwrap_or(key.def.name);
                synonyms.push(ConfigSynonym {
                    name: default_name,
                    value: key.def.default.map(str::to_string),
                    source: ConfigSource::DefaultConfig,
                });
                let first = &synonyms[0];
                let (value, source) = match first.source {
                    // A broker key's text may be in other units (log.retention.hours): show
                    // the topic key's value, computed from the broker's settings.
                    ConfigSource::StaticBrokerConfig => (
                        key.broker_default
                            .map(|effective| effective(&self.log))
                            .or_else(|| first.value.clone()),
                        first.source,
                    ),
                    _ => (first.value.clone(), first.source),
                };
                DescribedConfig {
                    def: &key.def,
                    value,
                    source,
                    synonyms,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sasl_inter_broker_listener_needs_the_brokers_own_login() {
        let base = [
            (
                "listeners",
                "INTERNAL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            ),
            (
                "listener.security.protocol.map",
                "INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            ),
            ("inter.broker.listener.name", "INTERNAL"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            BrokerConfig::from_properties(props(&all))
        };
        let error = with(&[]).unwrap_err().to_string();
        assert!(
            error.contains("sasl.mechanism.inter.broker.protocol"),
            "{error}"
        );
        let error = with(&[("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("listener.name.internal.scram-sha-256.sasl.jaas.config"),
            "{error}"
        );
        let config = with(&[
            ("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256"),
            (
                "listener.name.internal.scram-sha-256.sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required \
                 username=\"broker\" password=\"broker-secret\";",
            ),
        ])
        .unwrap();
        let login = config.inter_broker_login.expect("a login");
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("broker", "broker-secret")
        );
        assert!(!format!("{login:?}").contains("broker-secret"));
    }

    #[test]
    fn the_controller_listener_takes_its_protocol_from_the_map() {
        let voters = (
            "controller.quorum.voters",
            "1@127.0.0.1:9093,2@localhost:9095",
        );
        let base = [
            ("node.id", "1"),
            voters,
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            ),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            BrokerConfig::from_properties(props(&all))
        };
        // Not mapped: PLAINTEXT, as KRaft.
        let plain = with(&[]).unwrap().controller_security;
        assert_eq!(plain.protocol, SecurityProtocol::Plaintext);
        assert!(plain.server_tls.is_none() && plain.client_tls.is_none() && plain.login.is_none());
        // A voter's certificate is checked against the host it was given as.
        let localhost = "localhost:9095".to_socket_addrs().unwrap().next().unwrap();
        assert_eq!(plain.host_of(localhost), "localhost");
        let map = |protocol: &'static str| -> (&'static str, &'static str) {
            let text = match protocol {
                "SASL_PLAINTEXT" => "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
                _ => "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
            };
            ("listener.security.protocol.map", text)
        };
        // An SSL voter serves the listener with its key store.
        let error = with(&[map("SSL")]).unwrap_err().to_string();
        assert!(error.contains("ssl.keystore.location"), "{error}");
        // SASL: PLAIN only, with this node's own login in the controller listener's entry.
        let sasl = map("SASL_PLAINTEXT");
        let error = with(&[sasl]).unwrap_err().to_string();
        assert!(
            error.contains("sasl.mechanism.controller.protocol"),
            "{error}"
        );
        let scram = ("sasl.mechanism.controller.protocol", "SCRAM-SHA-256");
        let error = with(&[sasl, scram]).unwrap_err().to_string();
        assert!(error.contains("takes PLAIN"), "{error}");
        let plain_mechanism = ("sasl.mechanism.controller.protocol", "PLAIN");
        let error = with(&[sasl, plain_mechanism]).unwrap_err().to_string();
        assert!(
            error.contains("listener.name.controller.plain.sasl.jaas.config"),
            "{error}"
        );
        let entry = (
            "listener.name.controller.plain.sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"node\" password=\"node-secret\" user_node=\"node-secret\";",
        );
        let scram_only = ("sasl.enabled.mechanisms", "SCRAM-SHA-256");
        let error = with(&[sasl, plain_mechanism, entry, scram_only])
            .unwrap_err()
            .to_string();
        assert!(error.contains("sasl.enabled.mechanisms"), "{error}");
        let config = with(&[sasl, plain_mechanism, entry]).unwrap();
        let login = config.controller_security.login.expect("a login");
        assert_eq!(login.username, "node");
        // The entry's users are who the controller listener lets in.
        assert_eq!(
            config
                .sasl
                .plain_password("CONTROLLER", "node")
                .map(String::as_str),
            Some("node-secret")
        );
    }

    #[test]
    fn a_broker_only_node_logs_in_to_a_sasl_controller_listener() {
        let config = BrokerConfig::from_properties(props(&[
            ("node.id", "4"),
            ("process.roles", "broker"),
            ("controller.quorum.voters", "1@127.0.0.1:9093"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            ),
            ("sasl.mechanism.controller.protocol", "PLAIN"),
            (
                "listener.name.controller.plain.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 username=\"node\" password=\"node-secret\";",
            ),
        ]))
        .unwrap();
        let security = config.controller_security;
        assert_eq!(security.protocol, SecurityProtocol::SaslPlaintext);
        assert!(
            security.server_tls.is_none(),
            "no controller listener of its own"
        );
        assert_eq!(security.login.map(|l| l.username), Some("node".to_string()));
    }

    #[test]
    fn a_listeners_jaas_entry_names_its_plain_users() {
        let listeners = (
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093",
        );
        let key = "listener.name.sasl_plaintext.plain.sasl.jaas.config";
        let entry = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                     username=\"admin\" password=\"a\" user_admin=\"a\" user_dave=\"d\";";
        let config = BrokerConfig::from_properties(props(&[
            listeners,
            (key, entry),
            ("sasl.plain.users", "alice:x"),
        ]))
        .unwrap();
        let sasl = &config.sasl;
        assert_eq!(
            sasl.plain_password("SASL_PLAINTEXT", "dave")
                .map(String::as_str),
            Some("d")
        );
        assert_eq!(
            sasl.plain_password("SASL_PLAINTEXT", "alice"),
            None,
            "the entry replaces"
        );
        assert_eq!(
            sasl.plain_password("OTHER", "alice").map(String::as_str),
            Some("x")
        );
        for (bad_key, bad_value, reason) in [
            (
                "listener.name.nope.plain.sasl.jaas.config",
                entry,
                "no listener",
            ),
            (
                key,
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "PlainLoginModule",
            ),
            (key, "PlainLoginModule required user_a=\"x\"", "semicolon"),
        ] {
            let error = BrokerConfig::from_properties(props(&[listeners, (bad_key, bad_value)]))
                .unwrap_err()
                .to_string();
            assert!(error.contains(reason), "{bad_key}: {error}");
            assert!(
                !error.contains("user_a"),
                "the entry is not echoed: {error}"
            );
        }
    }

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_parser_reads_every_key_of_the_table() {
        let none = BTreeMap::new();
        let settings = Settings::validated(&none).unwrap();
        BrokerConfig::build(&settings).unwrap();
        let read = settings.read.borrow();
        let unread: Vec<&str> = BROKER_KEYS
            .iter()
            .filter(|def| matches!(def.effect, registry::Effect::Applied))
            .map(|def| def.name)
            .filter(|name| !read.contains(name))
            .collect();
        assert!(unread.is_empty(), "declared but never read: {unread:?}");
    }

    #[test]
    fn every_default_is_valid_and_parses_when_given() {
        for def in BROKER_KEYS {
            let Some(default) = def.default else { continue };
            def.validate(default)
                .unwrap_or_else(|e| panic!("{}: default {default}: {e}", def.name));
            BrokerConfig::from_properties(props(&[(def.name, default)]))
                .unwrap_or_else(|e| panic!("{}={default}: {e}", def.name));
        }
    }

    #[test]
    fn describe_lists_every_key_with_its_source() {
        let config = BrokerConfig::from_properties(props(&[("log.retention.hours", "2")])).unwrap();
        let described = config.describe();
        assert_eq!(described.len(), BROKER_KEYS.len());
        let hours = described
            .iter()
            .find(|d| d.def.name == "log.retention.hours")
            .unwrap();
        assert_eq!(hours.value.as_deref(), Some("2"));
        assert_eq!(hours.source, ConfigSource::StaticBrokerConfig);
        assert_eq!(hours.synonyms.len(), 2);
        let ms = described
            .iter()
            .find(|d| d.def.name == "log.retention.ms")
            .unwrap();
        assert_eq!(
            ms.value, None,
            "null, as Kafka shows an unset log.retention.ms"
        );
        assert_eq!(ms.source, ConfigSource::DefaultConfig);
    }

    #[test]
    fn topic_keys_show_the_broker_key_that_sets_their_default() {
        let config = BrokerConfig::from_properties(props(&[("log.retention.hours", "2")])).unwrap();
        let overrides =
            TopicConfigs::new([("segment.ms".to_string(), "60000".to_string())]).unwrap();
        let described = config.describe_topic(&overrides);
        assert_eq!(described.len(), TOPIC_KEYS.len());
        let find = |name: &str| described.iter().find(|d| d.def.name == name).unwrap();
        let retention = find("retention.ms");
        assert_eq!(retention.value.as_deref(), Some("7200000"));
        assert_eq!(retention.source, ConfigSource::StaticBrokerConfig);
        let names: Vec<_> = retention
            .synonyms
            .iter()
            .map(|s| (s.name, s.source))
            .collect();
        assert_eq!(
            names,
            vec![
                ("log.retention.hours", ConfigSource::StaticBrokerConfig),
                ("log.retention.ms", ConfigSource::DefaultConfig)
            ]
        );
        let segment = find("segment.ms");
        assert_eq!(segment.value.as_deref(), Some("60000"));
        assert_eq!(segment.source, ConfigSource::TopicConfig);
        let format = find("message.format.version");
        assert_eq!(format.value.as_deref(), Some("3.0-IV1"));
        assert_eq!(format.source, ConfigSource::DefaultConfig);
    }

    /// The README's key tables are `keys_markdown()`, pasted: a key added to a table and not
    /// to the README (or the reverse) fails here.
    #[test]
    fn the_readme_lists_every_key() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&keys_markdown()),
            "README.md's config key tables are out of date: replace them with the output of \
             `weir serve --help-config markdown`"
        );
        let text = keys_text();
        for def in BROKER_KEYS.iter().chain(TOPIC_KEYS.iter().map(|k| &k.def)) {
            assert!(text.contains(&format!("  {} (", def.name)), "{}", def.name);
        }
    }

    #[test]
    fn defaults_run_with_no_arguments() {
        let config = BrokerConfig::default();
        assert_eq!(config.listeners.len(), 1);
        assert_eq!(config.listeners[0].address.port(), 9092);
        assert_eq!(
            config.inter_broker().map(|l| l.name.as_str()),
            Some("PLAINTEXT")
        );
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
        assert_eq!(config.listeners[0].address.port(), 19092);
        let endpoints = config.advertised_endpoints();
        assert_eq!(
            endpoints,
            vec![crate::metadata::Endpoint::plaintext("broker.example", 9093)]
        );
        assert_eq!(config.num_partitions, 3);
        assert_eq!(config.log.retention_ms, Some(3_600_000));
        assert_eq!(config.log.retention_bytes, Some(1_000_000));
        assert_eq!(config.log.segment_bytes, 1 << 20);
        assert_eq!(config.log.flush.interval_messages, Some(100));
        assert_eq!(config.log.max_message_bytes, 2_000_000);
        assert!(!config.auto_create_topics);
    }

    #[test]
    fn several_listeners_and_the_inter_broker_one() {
        let config = BrokerConfig::from_properties(props(&[
            (
                "listeners",
                "INTERNAL://127.0.0.1:19092,EXTERNAL://127.0.0.1:19093",
            ),
            (
                "listener.security.protocol.map",
                "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
            ),
            ("inter.broker.listener.name", "INTERNAL"),
        ]))
        .unwrap();
        assert_eq!(config.listeners.len(), 2);
        assert_eq!(config.inter_broker().map(|l| l.address.port()), Some(19092));
        let names: Vec<_> = config
            .advertised_endpoints()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["INTERNAL", "EXTERNAL"]);
        // Kafka's default inter-broker listener is the one named PLAINTEXT.
        let err = BrokerConfig::from_properties(props(&[
            ("listeners", "INTERNAL://127.0.0.1:19092"),
            ("listener.security.protocol.map", "INTERNAL:PLAINTEXT"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("inter.broker.listener.name"),
            "{err}"
        );
        // It must be advertised.
        let err = BrokerConfig::from_properties(props(&[
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:19092,OTHER://127.0.0.1:19093",
            ),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT",
            ),
            ("advertised.listeners", "OTHER://broker.example:9093"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("advertised"), "{err}");
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
        let err = BrokerConfig::from_properties(props(&[("default.replication.factor", "0")]))
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

    #[test]
    fn process_roles_follow_kafkas_rules() {
        let voters = (
            "controller.quorum.voters",
            "1@127.0.0.1:9101,2@127.0.0.1:9102",
        );
        let ok = |pairs: &[(&str, &str)]| BrokerConfig::from_properties(props(pairs));
        let refused = |pairs: &[(&str, &str)], key: &str| {
            let err = ok(pairs).unwrap_err().to_string();
            assert!(err.contains(key), "{pairs:?}: {err}");
        };
        // A controller-only voter binds only its CONTROLLER listener.
        let controller = ok(&[
            ("process.roles", "controller"),
            ("node.id", "1"),
            voters,
            ("listeners", "CONTROLLER://127.0.0.1:9101"),
        ])
        .unwrap();
        assert!(controller.cluster.controller_role && !controller.cluster.broker_role);
        assert!(controller.listeners.is_empty());
        assert!(!controller.cluster.is_single_node());
        refused(
            &[
                ("process.roles", "controller"),
                ("node.id", "1"),
                voters,
                (
                    "listeners",
                    "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9101",
                ),
            ],
            "serves no clients",
        );
        refused(
            &[("process.roles", "controller"), ("node.id", "3"), voters],
            "is not a voter",
        );
        // A broker-only node is not a voter and finds the controllers by the voters or the
        // bootstrap servers.
        let broker = ok(&[("process.roles", "broker"), ("node.id", "4"), voters]).unwrap();
        assert!(broker.cluster.broker_role && !broker.cluster.controller_role);
        assert_eq!(broker.cluster.controller_addresses().len(), 2);
        let bootstrapped = ok(&[
            ("process.roles", "broker"),
            ("node.id", "4"),
            ("controller.quorum.bootstrap.servers", "127.0.0.1:9101"),
        ])
        .unwrap();
        assert_eq!(
            bootstrapped.cluster.controller_addresses(),
            vec!["127.0.0.1:9101".parse().unwrap()]
        );
        refused(
            &[("process.roles", "broker"), ("node.id", "1"), voters],
            "must not be a voter",
        );
        refused(
            &[("process.roles", "broker"), ("node.id", "4")],
            "to find the controllers",
        );
        refused(
            &[
                ("process.roles", "broker"),
                ("node.id", "4"),
                voters,
                (
                    "listeners",
                    "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9101",
                ),
            ],
            "has no CONTROLLER listener",
        );
        // Controllers need the static voters.
        refused(
            &[("controller.quorum.bootstrap.servers", "127.0.0.1:9101")],
            "KIP-853",
        );
        refused(&[("process.roles", "broker,admin")], "process.roles");
    }

    #[test]
    fn the_shipped_cluster_configs_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut files = Vec::new();
        for sub in [dir.clone(), dir.join("separate")] {
            for entry in std::fs::read_dir(&sub).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "properties") {
                    files.push(path);
                }
            }
        }
        assert_eq!(files.len(), 9, "{files:?}");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let props = properties::parse_properties(&path.display().to_string(), &text).unwrap();
            let config = BrokerConfig::from_properties(props)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!config.cluster.is_single_node(), "{}", path.display());
        }
    }
}
