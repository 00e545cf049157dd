//! Every broker key `weir serve` accepts (server.properties, `--override`), declared once:
//! the parser reads its defaults and rules from here, DescribeConfigs lists it, and
//! `weir serve --help-config` and the README print it. Kafka's names and, where Weir follows
//! them, Kafka's defaults; a Weir default that differs says so in its description.

use super::registry::{Check, ConfigDef, ConfigType};

const INT_MAX: i64 = i32::MAX as i64;
const LONG_MAX: &str = "9223372036854775807";

fn replication_factor(value: &str) -> Result<(), &'static str> {
    match value.trim().parse::<i16>() {
        Ok(n) if n >= 1 => Ok(()),
        _ => Err("a replication factor is at least 1"),
    }
}

fn roles(value: &str) -> Result<(), &'static str> {
    let mut roles: Vec<&str> = value.split(',').map(str::trim).collect();
    roles.sort_unstable();
    match roles.as_slice() {
        ["broker", "controller"] | ["broker"] | ["controller"] => Ok(()),
        _ => Err("expected broker, controller, or broker,controller"),
    }
}

/// The broker's keys, grouped as the README lists them.
pub const BROKER_KEYS: &[ConfigDef] = &[
    // Server and listeners.
    ConfigDef::applied(
        "node.id",
        ConfigType::Int,
        None,
        Check::Range(0, INT_MAX),
        "This node's id in the cluster (KRaft's key; default: broker.id, else 0).",
    ),
    ConfigDef::applied(
        "broker.id",
        ConfigType::Int,
        Some("0"),
        Check::Range(0, INT_MAX),
        "The older name of node.id, used when node.id is not set.",
    ),
    ConfigDef::applied(
        "process.roles",
        ConfigType::List,
        Some("broker,controller"),
        Check::Custom(roles),
        "The node's roles: broker (serves clients and partitions), controller (a metadata \
         quorum voter, listed in controller.quorum.voters), or both in one process.",
    ),
    ConfigDef::applied(
        "controller.quorum.voters",
        ConfigType::List,
        Some(""),
        Check::Any,
        "The metadata quorum: id@host:port of every voter's CONTROLLER listener. Empty: this \
         node alone is the quorum (a single-node cluster).",
    ),
    ConfigDef::applied(
        "controller.quorum.bootstrap.servers",
        ConfigType::List,
        Some(""),
        Check::Any,
        "host:port of controllers a broker-only node asks for the metadata when \
         controller.quorum.voters is not given (KIP-853's key). Controllers themselves need \
         controller.quorum.voters: Weir's quorum has a static set of voters.",
    ),
    ConfigDef::applied(
        "controller.listener.names",
        ConfigType::String,
        Some("CONTROLLER"),
        Check::Any,
        "The name, in listeners, of the listener the quorum and brokers' controller calls use.",
    ),
    ConfigDef::applied(
        "inter.broker.listener.name",
        ConfigType::String,
        Some("PLAINTEXT"),
        Check::Any,
        "The listener, by name in listeners, brokers reach each other on (replica fetches, \
         transaction markers); it must be advertised.",
    ),
    ConfigDef::applied(
        "listeners",
        ConfigType::String,
        Some("PLAINTEXT://127.0.0.1:9092"),
        Check::Any,
        "NAME://host:port,...: the client listeners every shard binds (SO_REUSEPORT; an empty \
         host is every interface), each speaking the protocol listener.security.protocol.map \
         gives its name, and in a cluster also CONTROLLER://host:port.",
    ),
    ConfigDef::applied(
        "sasl.enabled.mechanisms",
        ConfigType::List,
        Some("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"),
        Check::Any,
        "The SASL mechanisms SASL_PLAINTEXT listeners offer: PLAIN, SCRAM-SHA-256, \
         SCRAM-SHA-512 (Kafka's default, GSSAPI, is not offered).",
    ),
    ConfigDef::applied(
        "sasl.plain.users",
        ConfigType::Password,
        Some(""),
        Check::Any,
        "Weir's own key: user:password,... that SASL PLAIN accepts (Kafka's PlainLoginModule \
         user_NAME=\"password\" entries). SCRAM users are cluster metadata: \
         AlterUserScramCredentials, weir user scram set.",
    ),
    ConfigDef::applied(
        "ssl.keystore.type",
        ConfigType::String,
        Some("PEM"),
        Check::OneOf(&["PEM"]),
        "The key store format of SSL and SASL_SSL listeners: PEM (Kafka's JKS and PKCS12 are not read).",
    ),
    ConfigDef::applied(
        "ssl.keystore.location",
        ConfigType::String,
        None,
        Check::Any,
        "A PEM file with the broker's private key and certificate chain (unencrypted key).",
    ),
    ConfigDef::applied(
        "ssl.keystore.certificate.chain",
        ConfigType::Password,
        None,
        Check::Any,
        "The broker's certificate chain as PEM text (with ssl.keystore.key, instead of ssl.keystore.location).",
    ),
    ConfigDef::applied(
        "ssl.keystore.key",
        ConfigType::Password,
        None,
        Check::Any,
        "The broker's private key as PEM text (unencrypted).",
    ),
    ConfigDef::applied(
        "ssl.key.password",
        ConfigType::Password,
        None,
        Check::Any,
        "Kafka's password of an encrypted key: Weir refuses encrypted keys, so leave it unset.",
    ),
    ConfigDef::applied(
        "ssl.truststore.type",
        ConfigType::String,
        Some("PEM"),
        Check::OneOf(&["PEM"]),
        "The trust store format: PEM.",
    ),
    ConfigDef::applied(
        "ssl.truststore.location",
        ConfigType::String,
        None,
        Check::Any,
        "A PEM file of the CA certificates client certificates must chain to (ssl.client.auth).",
    ),
    ConfigDef::applied(
        "ssl.truststore.certificates",
        ConfigType::Password,
        None,
        Check::Any,
        "The trusted CA certificates as PEM text, instead of ssl.truststore.location.",
    ),
    ConfigDef::applied(
        "ssl.client.auth",
        ConfigType::String,
        Some("none"),
        Check::OneOf(&["none", "requested", "required"]),
        "Whether TLS clients present a certificate: none, requested (checked when given) or required.",
    ),
    ConfigDef::applied(
        "ssl.enabled.protocols",
        ConfigType::List,
        Some("TLSv1.2,TLSv1.3"),
        Check::ListOf(&["TLSv1.2", "TLSv1.3"]),
        "The TLS versions SSL and SASL_SSL listeners accept.",
    ),
    ConfigDef::applied(
        "ssl.cipher.suites",
        ConfigType::List,
        Some(""),
        Check::Any,
        "IANA names of the cipher suites to offer (TLS_AES_128_GCM_SHA256, \
         TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, ...); empty: rustls's safe defaults.",
    ),
    ConfigDef::applied(
        "ssl.principal.mapping.rules",
        ConfigType::String,
        Some("DEFAULT"),
        Check::Any,
        "How a client certificate's subject (RFC 2253: CN=app,OU=apps,O=Example) becomes the \
         principal of a mutual-TLS connection: DEFAULT, or RULE:pattern/replacement/[LU], \
         first match wins, comma-separated, as Kafka.",
    ),
    ConfigDef::applied(
        "authorizer.class.name",
        ConfigType::String,
        Some(""),
        Check::OneOf(&[
            "",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "kafka.security.authorizer.AclAuthorizer",
        ]),
        "Empty: no authorization (every client may do anything, Kafka's default). Kafka's \
         StandardAuthorizer (or AclAuthorizer, the same rules): every request is checked \
         against the cluster's ACLs (CreateAcls, weir acl).",
    ),
    ConfigDef::applied(
        "super.users",
        ConfigType::String,
        Some(""),
        Check::Any,
        "Principals the authorizer allows everything, separated by semicolons: \
         User:admin;User:CN=broker,O=Example. With a PLAINTEXT inter-broker listener the \
         brokers are User:ANONYMOUS to each other.",
    ),
    ConfigDef::applied(
        "allow.everyone.if.no.acl.found",
        ConfigType::Boolean,
        Some("false"),
        Check::Any,
        "Whether a resource no ACL names is open to everyone (Kafka's default: false, closed).",
    ),
    ConfigDef::applied(
        "sasl.mechanism.controller.protocol",
        ConfigType::String,
        Some("GSSAPI"),
        Check::Any,
        "How every node logs in to the voters on a SASL controller listener: PLAIN (SCRAM \
         credentials are kept in the metadata the controllers serve, so they cannot check the \
         controller listener's logins; Kafka's default GSSAPI is not offered), with the username \
         and password of listener.name.<controller listener>.plain.sasl.jaas.config.",
    ),
    ConfigDef::applied(
        "sasl.mechanism.inter.broker.protocol",
        ConfigType::String,
        Some("GSSAPI"),
        Check::Any,
        "How brokers log in to each other on a SASL inter-broker listener: PLAIN, SCRAM-SHA-256 \
         or SCRAM-SHA-512 (Kafka's default GSSAPI is not offered), with the username and password \
         of listener.name.<listener>.<mechanism>.sasl.jaas.config.",
    ),
    ConfigDef::applied(
        "quota.window.num",
        ConfigType::Int,
        Some("11"),
        Check::Range(1, i32::MAX as i64),
        "Samples a client's produce and fetch byte rates are measured over (client quotas).",
    ),
    ConfigDef::applied(
        "quota.window.size.seconds",
        ConfigType::Int,
        Some("1"),
        Check::Range(1, i32::MAX as i64),
        "The time each quota sample covers; a throttled client waits until its rate over the \
         samples is back at its quota.",
    ),
    ConfigDef::applied(
        "listener.security.protocol.map",
        ConfigType::String,
        Some(super::listeners::DEFAULT_PROTOCOL_MAP),
        Check::Any,
        "NAME:PROTOCOL,...: the security protocol of each listener name (PLAINTEXT, SSL, \
         SASL_PLAINTEXT, SASL_SSL). The controller listener is PLAINTEXT when not mapped; when it \
         is mapped, its Raft traffic and controller calls use that protocol.",
    ),
    ConfigDef::applied(
        "broker.rack",
        ConfigType::String,
        None,
        Check::Any,
        "This broker's rack: replica assignment spreads each partition's replicas over racks.",
    ),
    ConfigDef::applied(
        "broker.session.timeout.ms",
        ConfigType::Int,
        Some("9000"),
        Check::Range(100, INT_MAX),
        "A broker without a heartbeat to the active controller for this long is fenced and \
         its partitions get new leaders.",
    ),
    ConfigDef::applied(
        "broker.heartbeat.interval.ms",
        ConfigType::Int,
        Some("2000"),
        Check::Range(10, INT_MAX),
        "How often a broker heartbeats to the active controller.",
    ),
    ConfigDef::applied(
        "controller.quorum.election.timeout.ms",
        ConfigType::Int,
        Some("1000"),
        Check::Range(100, INT_MAX),
        "A quorum voter that hears nothing from a leader for this long (randomized up to \
         twice) starts an election.",
    ),
    ConfigDef::applied(
        "controlled.shutdown.enable",
        ConfigType::Boolean,
        Some("true"),
        Check::Any,
        "On SIGTERM, move this broker's leaderships to other in-sync replicas before exiting.",
    ),
    ConfigDef::applied(
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        Some("false"),
        Check::Any,
        "Whether a replica outside the ISR may become leader when no ISR member is alive \
         (risks losing acknowledged records); the default of the topic key of the same name.",
    ),
    ConfigDef::applied(
        "replica.lag.time.max.ms",
        ConfigType::Long,
        Some("30000"),
        Check::Range(100, INT_MAX),
        "A follower that has not caught up with its leader for this long leaves the ISR (the \
         leader asks the controller with AlterPartition); it joins again once it reaches the \
         high watermark.",
    ),
    ConfigDef::applied(
        "replica.selector.class",
        ConfigType::Class,
        None,
        Check::OneOf(&[
            "org.apache.kafka.common.replica.RackAwareReplicaSelector",
            "org.apache.kafka.common.replica.LeaderSelector",
        ]),
        "Fetch from the closest replica (KIP-392). With Kafka's RackAwareReplicaSelector a leader \
         sends a consumer whose `client.rack` names another rack to an in-sync follower in that \
         rack (`broker.rack`), which then serves it below its own high watermark. Unset, or \
         LeaderSelector: consumers read from leaders (followers still serve a consumer that \
         comes to them with Fetch v11+).",
    ),
    ConfigDef::applied(
        "replica.fetch.wait.max.ms",
        ConfigType::Int,
        Some("500"),
        Check::Range(0, INT_MAX),
        "How long a leader holds a follower's fetch that finds nothing new (the replica \
         fetchers' long poll). A follower learns that the high watermark moved from the \
         answer to its next fetch, so this also bounds how stale a follower's high watermark \
         is while no records arrive. At most `replica.lag.time.max.ms`.",
    ),
    ConfigDef::applied(
        "auto.leader.rebalance.enable",
        ConfigType::Boolean,
        Some("true"),
        Check::Any,
        "The active controller gives each partition back to its preferred replica (the first \
         of its assignment) when that replica is alive and in sync, every \
         leader.imbalance.check.interval.seconds.",
    ),
    ConfigDef::applied(
        "leader.imbalance.check.interval.seconds",
        ConfigType::Long,
        Some("300"),
        Check::Range(1, INT_MAX),
        "How often the active controller looks for partitions not led by their preferred \
         replica.",
    ),
    ConfigDef::ignored(
        "leader.imbalance.per.broker.percentage",
        ConfigType::Int,
        Some("10"),
        Check::Range(0, 100),
        "The share of a broker's partitions that may be led elsewhere before a rebalance.",
        "as Kafka's KRaft controller (KAFKA-13682), every imbalanced partition is rebalanced.",
    ),
    ConfigDef::applied(
        "advertised.listeners",
        ConfigType::String,
        None,
        Check::Any,
        "NAME://host:port,...: what Metadata tells clients that came in on listener NAME \
         (default: listeners as bound; a wildcard address advertises the host name). A \
         listener not named here is bound but not advertised.",
    ),
    ConfigDef::applied(
        "admin.listener",
        ConfigType::String,
        Some("127.0.0.1:9644"),
        Check::Any,
        "Weir's own key: the HTTP host:port of /metrics (Prometheus text); empty turns it off.",
    ),
    ConfigDef::applied(
        "log.dirs",
        ConfigType::String,
        None,
        Check::Any,
        "The data directory (one path); overrides log.dir.",
    ),
    ConfigDef::applied(
        "log.dir",
        ConfigType::String,
        Some("weir-data"),
        Check::Any,
        "The data directory when log.dirs is not set (relative to the working directory).",
    ),
    // Topics.
    ConfigDef::applied(
        "num.partitions",
        ConfigType::Int,
        Some("1"),
        Check::Range(1, INT_MAX),
        "Partitions of auto-created topics and of CreateTopics with -1.",
    ),
    ConfigDef::applied(
        "default.replication.factor",
        ConfigType::Int,
        Some("1"),
        Check::Custom(replication_factor),
        "Replicas of auto-created topics and of CreateTopics without a replication factor.",
    ),
    ConfigDef::applied(
        "offsets.topic.replication.factor",
        ConfigType::Int,
        Some("3"),
        Check::Custom(replication_factor),
        "Replicas of __consumer_offsets; capped, with a warning, at the number of voters when \
         the cluster is smaller (as Kafka does for development clusters).",
    ),
    ConfigDef::applied(
        "offsets.topic.num.partitions",
        ConfigType::Int,
        Some("50"),
        Check::Range(1, 1000),
        "Partitions of __consumer_offsets when it is created.",
    ),
    // Transactions (KIP-98): the coordinator and its `__transaction_state` topic.
    ConfigDef::applied(
        "transaction.state.log.num.partitions",
        ConfigType::Int,
        Some("50"),
        Check::Range(1, 1000),
        "Partitions of __transaction_state when it is created (on the first transactional \
         FindCoordinator, as Kafka does).",
    ),
    ConfigDef::applied(
        "transaction.state.log.replication.factor",
        ConfigType::Int,
        Some("3"),
        Check::Custom(replication_factor),
        "Replicas of __transaction_state; capped, with a warning, at the number of voters when \
         the cluster is smaller.",
    ),
    ConfigDef::applied(
        "transaction.state.log.min.isr",
        ConfigType::Int,
        Some("2"),
        Check::Range(1, 32767),
        "min.insync.replicas of __transaction_state (capped at its replication factor).",
    ),
    ConfigDef::applied(
        "transaction.state.log.segment.bytes",
        ConfigType::Int,
        Some("104857600"),
        Check::Range(1 << 20, INT_MAX),
        "segment.bytes of __transaction_state.",
    ),
    ConfigDef::applied(
        "transaction.max.timeout.ms",
        ConfigType::Int,
        Some("900000"),
        Check::Range(1, INT_MAX),
        "The longest transaction.timeout.ms a producer may ask for \
         (INVALID_TRANSACTION_TIMEOUT beyond it).",
    ),
    ConfigDef::applied(
        "transactional.id.expiration.ms",
        ConfigType::Int,
        Some("604800000"),
        Check::Range(1, INT_MAX),
        "A transactional id with no transaction for this long is forgotten.",
    ),
    ConfigDef::applied(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        ConfigType::Int,
        Some("10000"),
        Check::Range(1, INT_MAX),
        "How often the coordinator aborts transactions open past their timeout and forgets \
         expired transactional ids.",
    ),
    ConfigDef::applied(
        "auto.create.topics.enable",
        ConfigType::Boolean,
        Some("true"),
        Check::Any,
        "Metadata for an unknown topic creates it with num.partitions.",
    ),
    ConfigDef::applied(
        "delete.topic.enable",
        ConfigType::Boolean,
        Some("true"),
        Check::Any,
        "Whether DeleteTopics may delete topics.",
    ),
    // The log (defaults of the topic keys).
    ConfigDef::applied(
        "log.retention.hours",
        ConfigType::Int,
        Some("168"),
        Check::Any,
        "Default retention.ms in hours; log.retention.minutes and .ms take precedence; -1 keeps \
         forever.",
    ),
    ConfigDef::applied(
        "log.retention.minutes",
        ConfigType::Int,
        None,
        Check::Any,
        "Default retention.ms in minutes; log.retention.ms takes precedence.",
    ),
    ConfigDef::applied(
        "log.retention.ms",
        ConfigType::Long,
        None,
        Check::Range(-1, i64::MAX),
        "Default retention.ms; -1 keeps forever.",
    ),
    ConfigDef::applied(
        "log.retention.bytes",
        ConfigType::Long,
        Some("-1"),
        Check::Range(-1, i64::MAX),
        "Default retention.bytes per partition; -1 is no limit.",
    ),
    ConfigDef::applied(
        "log.retention.check.interval.ms",
        ConfigType::Long,
        Some("300000"),
        Check::Range(1, i64::MAX),
        "How often each shard applies retention.",
    ),
    ConfigDef::applied(
        "log.segment.bytes",
        ConfigType::Int,
        Some("1073741824"),
        Check::Range(14, INT_MAX),
        "Default segment.bytes.",
    ),
    ConfigDef::applied(
        "log.roll.hours",
        ConfigType::Int,
        Some("168"),
        Check::Range(1, INT_MAX),
        "Default segment.ms in hours; log.roll.ms takes precedence.",
    ),
    ConfigDef::applied(
        "log.roll.ms",
        ConfigType::Long,
        None,
        Check::Range(1, i64::MAX),
        "Default segment.ms.",
    ),
    ConfigDef::applied(
        "log.index.interval.bytes",
        ConfigType::Int,
        Some("4096"),
        Check::Range(0, INT_MAX),
        "Default index.interval.bytes.",
    ),
    ConfigDef::applied(
        "log.message.timestamp.type",
        ConfigType::String,
        Some("CreateTime"),
        Check::OneOf(&["CreateTime", "LogAppendTime"]),
        "Default message.timestamp.type.",
    ),
    ConfigDef::applied(
        "message.max.bytes",
        ConfigType::Int,
        Some("1048588"),
        Check::Range(0, INT_MAX),
        "Default max.message.bytes: the largest record batch accepted.",
    ),
    ConfigDef::applied(
        "log.read.ahead.bytes",
        ConfigType::Long,
        Some("4194304"),
        Check::Range(0, 1 << 30),
        "Weir's own key: how far ahead of a consumer or follower reading old data (segment files, \
         read with O_DIRECT so the page cache does not read ahead) the shard reads, in 1 MiB \
         direct reads at once; 0 turns read-ahead off.",
    ),
    ConfigDef::applied(
        "log.read.ahead.memory.bytes",
        ConfigType::Long,
        Some("67108864"),
        Check::Range(0, i64::MAX),
        "Weir's own key: bytes read ahead that one shard holds at most, all partitions together; \
         the readers unused for longest give theirs up first.",
    ),
    ConfigDef::applied(
        "log.flush.interval.messages",
        ConfigType::Long,
        Some(LONG_MAX),
        Check::Range(1, i64::MAX),
        "Default flush.messages (tuning.md: acks=all is synced before it is acknowledged).",
    ),
    ConfigDef::applied(
        "log.flush.interval.ms",
        ConfigType::Long,
        None,
        Check::Range(1, i64::MAX),
        "Default flush.ms.",
    ),
    ConfigDef::applied(
        "compression.type",
        ConfigType::String,
        Some("producer"),
        Check::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        "Default compression.type of topics.",
    ),
    ConfigDef::applied(
        "log.cleanup.policy",
        ConfigType::List,
        Some("delete"),
        Check::ListOf(&["delete", "compact"]),
        "Default cleanup.policy.",
    ),
    // The log cleaner.
    ConfigDef::applied(
        "log.cleaner.enable",
        ConfigType::Boolean,
        Some("true"),
        Check::Any,
        "Whether compacted topics are cleaned.",
    ),
    ConfigDef::applied(
        "log.cleaner.backoff.ms",
        ConfigType::Long,
        Some("15000"),
        Check::Range(1, i64::MAX),
        "Pause between two passes of a shard's cleaner.",
    ),
    ConfigDef::applied(
        "log.cleaner.dedupe.buffer.size",
        ConfigType::Long,
        Some("134217728"),
        Check::Range(1_048_576, i64::MAX),
        "Memory for the key map of one cleaning pass, per shard.",
    ),
    ConfigDef::applied(
        "log.cleaner.delete.retention.ms",
        ConfigType::Long,
        Some("86400000"),
        Check::Range(0, i64::MAX),
        "Default delete.retention.ms.",
    ),
    ConfigDef::applied(
        "log.cleaner.min.cleanable.ratio",
        ConfigType::Double,
        Some("0.5"),
        Check::RangeF64(0.0, 1.0),
        "Default min.cleanable.dirty.ratio.",
    ),
    ConfigDef::applied(
        "min.insync.replicas",
        ConfigType::Int,
        Some("1"),
        Check::Range(1, INT_MAX),
        "Default min.insync.replicas: the in-sync replicas an acks=all write needs.",
    ),
    ConfigDef::applied(
        "log.cleaner.min.compaction.lag.ms",
        ConfigType::Long,
        Some("0"),
        Check::Range(0, i64::MAX),
        "Default min.compaction.lag.ms.",
    ),
    // Connections and requests.
    ConfigDef::applied(
        "socket.request.max.bytes",
        ConfigType::Int,
        Some("104857600"),
        Check::Range(1024, INT_MAX),
        "Larger request frames close the connection.",
    ),
    ConfigDef::applied(
        "connections.max.idle.ms",
        ConfigType::Long,
        Some("600000"),
        Check::Custom(|v| match v.trim().parse::<i64>() {
            Ok(-1) => Ok(()),
            Ok(ms) if ms > 0 => Ok(()),
            _ => Err("must be positive, or -1 for never"),
        }),
        "Connections with no request for this long are closed; -1 never.",
    ),
    ConfigDef::applied(
        "connections.max.reauth.ms",
        ConfigType::Long,
        Some("0"),
        Check::Range(0, i64::MAX),
        "SASL sessions last this long (KIP-368): the broker tells clients (SaslAuthenticate's \
         session_lifetime_ms), they log in again on the same connection, and a connection \
         whose session has run out is closed at its next request. 0: sessions never end.",
    ),
    ConfigDef::applied(
        "max.connections",
        ConfigType::Int,
        Some("2147483647"),
        Check::Range(1, INT_MAX),
        "Open connections of the broker; at the limit new ones wait in the listen backlog.",
    ),
    ConfigDef::applied(
        "max.connections.per.ip",
        ConfigType::Int,
        Some("2147483647"),
        Check::Range(1, INT_MAX),
        "Open connections per client address; more are closed at once.",
    ),
    ConfigDef::applied(
        "max.connections.per.ip.overrides",
        ConfigType::String,
        Some(""),
        Check::Any,
        "Per-address limits: ip:count,ip:count.",
    ),
    ConfigDef::applied(
        "queued.max.request.bytes",
        ConfigType::Long,
        Some("104857600"),
        Check::Custom(|v| match v.trim().parse::<i64>() {
            Ok(-1) => Ok(()),
            Ok(bytes) if bytes >= 1024 => Ok(()),
            _ => Err("must be at least 1024, or -1 for no bound"),
        }),
        "Bytes of requests read but not answered, per shard (Kafka's default -1 is no bound; \
         Weir bounds it at 100 MiB).",
    ),
    ConfigDef::applied(
        "shutdown.timeout.ms",
        ConfigType::Long,
        Some("10000"),
        Check::Range(0, i64::MAX),
        "Weir's own key: how long SIGTERM waits for requests in flight.",
    ),
    // Consumer groups.
    ConfigDef::applied(
        "group.min.session.timeout.ms",
        ConfigType::Int,
        Some("6000"),
        Check::Range(0, INT_MAX),
        "The shortest session.timeout.ms a member may ask for.",
    ),
    ConfigDef::applied(
        "group.max.session.timeout.ms",
        ConfigType::Int,
        Some("1800000"),
        Check::Range(0, INT_MAX),
        "The longest session.timeout.ms a member may ask for.",
    ),
    ConfigDef::applied(
        "group.initial.rebalance.delay.ms",
        ConfigType::Int,
        Some("3000"),
        Check::Range(0, INT_MAX),
        "How long an empty group waits for more members before its first rebalance.",
    ),
    ConfigDef::applied(
        "offset.metadata.max.bytes",
        ConfigType::Int,
        Some("4096"),
        Check::Range(0, INT_MAX),
        "The largest metadata string of a committed offset.",
    ),
];

/// The broker key named `name`.
pub fn broker_key(name: &str) -> Option<&'static ConfigDef> {
    BROKER_KEYS.iter().find(|def| def.name == name)
}
