//! The client tools of the `weir` binary — what `kafka-topics.sh`, `kafka-console-producer.sh`,
//! `kafka-console-consumer.sh`, `kafka-consumer-groups.sh` and `kafka-transactions.sh` are for Kafka — built on
//! librdkafka (the `rdkafka` crate), so they work against any Kafka-compatible broker. The
//! broker itself never calls into this module.

pub mod acl;
pub mod client_security;
pub mod cluster;
pub mod consume;
pub mod group;
pub mod leader_election;
pub mod perf;
pub mod produce;
pub mod quota;
mod raw_client;
pub mod table;
pub mod topic;
pub mod transactions;
pub mod user;

use std::time::Duration;

use clap::{Args, ValueEnum};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;

/// Options every tool command takes.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// The broker to bootstrap from (host:port[,host:port...]).
    #[arg(
        long,
        short = 'b',
        value_name = "HOST:PORT",
        default_value = "localhost:9092"
    )]
    pub bootstrap_server: String,
    /// How long to wait for the broker on each request before giving up, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// `table` for people, `json` (one document, or one line per message) for scripts.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Client properties for a SASL or TLS listener, as Kafka's tools take them:
    /// security.protocol, sasl.mechanism, sasl.jaas.config (or sasl.username and
    /// sasl.password), ssl.truststore.location, ssl.keystore.location (PEM).
    #[arg(long, value_name = "FILE", value_parser = client_security::ClientSecurity::from_file_arg)]
    pub command_config: Option<client_security::ClientSecurity>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

/// Why a tool command failed: printed as one line, exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot reach a Kafka broker at {bootstrap} within {timeout_ms} ms: {reason} (is the broker running? check --bootstrap-server)")]
    Unreachable {
        bootstrap: String,
        timeout_ms: u64,
        reason: String,
    },
    #[error("unknown topic `{0}` (see `weir topic list`)")]
    UnknownTopic(String),
    #[error("{what}: {text}", text = code_text(*.code))]
    Broker {
        what: String,
        code: RDKafkaErrorCode,
    },
    #[error("{what}: {source}")]
    Client {
        what: String,
        #[source]
        source: KafkaError,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Kafka's name for an error code (`INVALID_CONFIG`), as its tools print it.
fn code_name(code: &RDKafkaErrorCode) -> String {
    let debug = format!("{code:?}");
    let mut name = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// Kafka's name for an error code off the wire (a response the tool decoded itself).
fn wire_code_name(code: i16) -> String {
    match rdkafka::types::RDKafkaRespErr::try_from(i32::from(code)) {
        Ok(known) => code_name(&RDKafkaErrorCode::from(known)),
        Err(_) => format!("error {code}"),
    }
}

/// librdkafka's description of a code ("Broker: Topic already exists").
fn describe(code: &RDKafkaErrorCode) -> String {
    let text = code.to_string();
    match text.split_once(" (") {
        Some((_, inner)) => inner.trim_end_matches(')').to_string(),
        None => text,
    }
}

impl ToolError {
    pub fn client(what: impl Into<String>, source: KafkaError) -> Self {
        ToolError::Client {
            what: what.into(),
            source,
        }
    }
}

impl Connection {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// librdkafka settings shared by every client the tools create.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_server)
            .set("client.id", "weir-tools")
            .set(
                "socket.timeout.ms",
                self.request_timeout_ms.max(10).to_string(),
            )
            // librdkafka logs broker-down retries at error level; the tools report failures
            // themselves, in one line.
            .set("log_level", "0");
        for (key, value) in self
            .command_config
            .iter()
            .flat_map(|security| security.librdkafka_settings())
        {
            config.set(key, value);
        }
        config
    }

    pub fn admin(&self) -> Result<AdminClient<DefaultClientContext>, ToolError> {
        self.client_config()
            .create()
            .map_err(|e| ToolError::client("cannot create the admin client", e))
    }

    pub fn admin_options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.timeout()))
            .operation_timeout(Some(self.timeout()))
    }

    /// A consumer that only asks (metadata, watermarks, committed offsets); `group` is needed
    /// for committed offsets.
    pub fn probe(&self, group: Option<&str>) -> Result<BaseConsumer, ToolError> {
        let mut config = self.client_config();
        config.set("enable.auto.commit", "false");
        if let Some(group) = group {
            config.set("group.id", group);
        }
        config
            .create()
            .map_err(|e| ToolError::client("cannot create the client", e))
    }

    /// Cluster metadata (of one topic, or all): the first request of every command, so that an
    /// unreachable broker is reported here, in one line, within the timeout.
    pub fn metadata(
        &self,
        consumer: &BaseConsumer,
        topic: Option<&str>,
    ) -> Result<Metadata, ToolError> {
        self.check_reachable()?;
        let metadata = consumer
            .fetch_metadata(topic, self.timeout())
            .map_err(|e| self.unreachable(e))?;
        if let Some(topic) = topic {
            let known = metadata
                .topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none());
            if !known {
                return Err(ToolError::UnknownTopic(topic.to_string()));
            }
        }
        Ok(metadata)
    }

    /// A refused connection is known at once; librdkafka would retry until the timeout. So
    /// try a TCP connection to each bootstrap address first and fail fast when none answers.
    fn check_reachable(&self) -> Result<(), ToolError> {
        use std::net::{TcpStream, ToSocketAddrs};
        let mut last_error = None;
        for server in self.bootstrap_server.split(',').map(str::trim) {
            let addresses = match server.to_socket_addrs() {
                Ok(addresses) => addresses,
                Err(e) => {
                    last_error = Some(format!("{server}: {e}"));
                    continue;
                }
            };
            for address in addresses {
                match TcpStream::connect_timeout(&address, self.timeout()) {
                    Ok(_) => return Ok(()),
                    Err(e) => last_error = Some(format!("{address}: {e}")),
                }
            }
        }
        Err(ToolError::Unreachable {
            bootstrap: self.bootstrap_server.clone(),
            timeout_ms: self.request_timeout_ms,
            reason: last_error.unwrap_or_else(|| "no address to connect to".into()),
        })
    }

    /// The partition ids of `topic` (UNKNOWN_TOPIC when it has none).
    pub fn topic_partitions(
        &self,
        consumer: &BaseConsumer,
        topic: &str,
    ) -> Result<Vec<i32>, ToolError> {
        let metadata = self.metadata(consumer, Some(topic))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect())
    }

    pub fn unreachable(&self, error: KafkaError) -> ToolError {
        ToolError::Unreachable {
            bootstrap: self.bootstrap_server.clone(),
            timeout_ms: self.request_timeout_ms,
            reason: error.to_string(),
        }
    }
}

/// Turns per-resource admin results (CreateTopics, DeleteTopics, CreatePartitions,
/// AlterConfigs, DeleteGroups) into the first error, if any.
pub fn check_results<T, R>(
    what: &str,
    results: Vec<Result<T, (R, RDKafkaErrorCode)>>,
) -> Result<(), ToolError> {
    for result in results {
        result.map_err(|(_, code)| ToolError::Broker {
            what: what.to_string(),
            code,
        })?;
    }
    Ok(())
}

/// The one-line confirmation of an admin command: `Created topic orders.` for people,
/// `{"created":"orders"}` for scripts.
pub fn report(connection: &Connection, done: &str, json_key: &str, name: &str) {
    match connection.output {
        Output::Table => println!("{done} {name}."),
        Output::Json => println!("{}", serde_json::json!({ json_key: name })),
    }
}

/// librdkafka's code as Kafka's tools print it: `INVALID_CONFIG: Broker: Configuration is
/// invalid`.
pub fn code_text(code: RDKafkaErrorCode) -> String {
    format!("{}: {}", code_name(&code), describe(&code))
}

/// Runs an rdkafka admin future (driven by the admin client's own thread) to completion.
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    futures_lite::future::block_on(future)
}

/// Parses `key=value` arguments (`--config`, `--header`).
pub fn key_value(pair: &str) -> Result<(String, String), String> {
    pair.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{pair}`: expected KEY=VALUE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_print_with_kafka_names() {
        assert_eq!(
            code_name(&RDKafkaErrorCode::InvalidConfig),
            "INVALID_CONFIG"
        );
        assert_eq!(
            code_name(&RDKafkaErrorCode::TopicAlreadyExists),
            "TOPIC_ALREADY_EXISTS"
        );
        assert_eq!(
            describe(&RDKafkaErrorCode::TopicAlreadyExists),
            "Broker: Topic already exists"
        );
    }

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(key_value("novalue").is_err());
        assert!(key_value("=x").is_err());
    }
}
