//! `weir topic`: what `kafka-topics.sh` does (create, list, describe, alter, delete), through
//! the admin API (CreateTopics, Metadata, DescribeConfigs, CreatePartitions, AlterConfigs,
//! DeleteTopics).

use std::collections::BTreeMap;

use clap::Subcommand;
use rdkafka::admin::{
    AdminClient, AlterConfig, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::metadata::MetadataTopic;
use serde_json::json;

use super::{block_on, check_results, key_value, report, table, Connection, Output, ToolError};

#[derive(Subcommand, Debug)]
pub enum TopicCommand {
    /// Create a topic.
    ///
    /// Example: weir topic create prices --partitions 6 --config cleanup.policy=compact
    Create {
        name: String,
        /// Partitions (default: the broker's num.partitions).
        #[arg(long, value_name = "N")]
        partitions: Option<i32>,
        /// Replicas of each partition (default: the broker's default.replication.factor).
        #[arg(long, value_name = "R")]
        replication_factor: Option<i32>,
        /// A topic config; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
        #[command(flatten)]
        connection: Connection,
    },
    /// List topics, one per line.
    ///
    /// Example: weir topic list --exclude-internal
    List {
        /// Leave out internal topics such as __consumer_offsets.
        #[arg(long)]
        exclude_internal: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show a topic's partitions (leader, replicas, in-sync replicas) and its configs; without
    /// a name, every topic's.
    ///
    /// Examples: weir topic describe prices --output json;
    /// weir topic describe --under-replicated-partitions
    Describe {
        name: Option<String>,
        /// Only partitions whose ISR is smaller than their replica set.
        #[arg(long)]
        under_replicated_partitions: bool,
        /// Only partitions without a live leader.
        #[arg(long)]
        unavailable_partitions: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Add partitions, or set or remove topic configs.
    ///
    /// Examples: weir topic alter prices --partitions 12;
    /// weir topic alter prices --config retention.ms=3600000 --delete-config segment.ms
    Alter {
        name: String,
        /// The new partition count (Kafka only adds partitions).
        #[arg(long, value_name = "N")]
        partitions: Option<i32>,
        /// Set a topic config; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
        /// Return a topic config to its default; repeatable.
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete a topic and its data.
    ///
    /// Example: weir topic delete prices
    Delete {
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn run(command: TopicCommand) -> Result<(), ToolError> {
    match command {
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
            connection,
        } => create(&connection, &name, partitions, replication_factor, &configs),
        TopicCommand::List {
            exclude_internal,
            connection,
        } => list(&connection, exclude_internal),
        TopicCommand::Describe {
            name,
            under_replicated_partitions,
            unavailable_partitions,
            connection,
        } => {
            let filter = PartitionFilter {
                under_replicated: under_replicated_partitions,
                unavailable: unavailable_partitions,
            };
            describe(&connection, name.as_deref(), filter)
        }
        TopicCommand::Alter {
            name,
            partitions,
            configs,
            delete_configs,
            connection,
        } => alter(&connection, &name, partitions, &configs, &delete_configs),
        TopicCommand::Delete { name, connection } => delete(&connection, &name),
    }
}

fn create(
    connection: &Connection,
    name: &str,
    partitions: Option<i32>,
    replication_factor: Option<i32>,
    configs: &[(String, String)],
) -> Result<(), ToolError> {
    let admin = connection.admin()?;
    // Reach the broker first, so that "down" is reported as such rather than as a timeout.
    connection.metadata(&connection.probe(None)?, None)?;
    let mut topic = NewTopic::new(
        name,
        partitions.unwrap_or(-1),
        TopicReplication::Fixed(replication_factor.unwrap_or(-1)),
    );
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = block_on(admin.create_topics([&topic], &connection.admin_options()))
        .map_err(|e| ToolError::client(format!("create topic {name}"), e))?;
    check_results(&format!("create topic {name}"), results)?;
    report(connection, "Created topic", "created", name);
    Ok(())
}

fn is_internal(name: &str) -> bool {
    name.starts_with("__")
}

fn list(connection: &Connection, exclude_internal: bool) -> Result<(), ToolError> {
    let metadata = connection.metadata(&connection.probe(None)?, None)?;
    let mut names: Vec<&str> = metadata
        .topics()
        .iter()
        .map(MetadataTopic::name)
        .filter(|name| !(exclude_internal && is_internal(name)))
        .collect();
    names.sort_unstable();
    match connection.output {
        Output::Table => names.iter().for_each(|name| println!("{name}")),
        Output::Json => println!("{}", json!(names)),
    }
    Ok(())
}

/// A topic's configs that are not the broker's defaults (DescribeConfigs).
fn topic_configs(
    connection: &Connection,
    admin: &AdminClient<DefaultClientContext>,
    name: &str,
) -> Result<Vec<(String, String, bool)>, ToolError> {
    let results = block_on(admin.describe_configs(
        [&ResourceSpecifier::Topic(name)],
        &connection.admin_options(),
    ))
    .map_err(|e| ToolError::client(format!("describe configs of {name}"), e))?;
    let mut out = Vec::new();
    for result in results {
        let resource = result.map_err(|code| ToolError::Broker {
            what: format!("describe configs of {name}"),
            code,
        })?;
        for entry in resource.entries {
            let is_override = entry.source == ConfigSource::DynamicTopic;
            out.push((entry.name, entry.value.unwrap_or_default(), is_override));
        }
    }
    out.sort();
    Ok(out)
}

/// `--under-replicated-partitions` / `--unavailable-partitions` (kafka-topics.sh's): only
/// partitions in that state, without the topic lines.
#[derive(Debug, Clone, Copy)]
struct PartitionFilter {
    under_replicated: bool,
    unavailable: bool,
}

impl PartitionFilter {
    fn is_set(self) -> bool {
        self.under_replicated || self.unavailable
    }

    fn keeps(self, p: &rdkafka::metadata::MetadataPartition, live: &[i32]) -> bool {
        (!self.under_replicated || p.isr().len() < p.replicas().len())
            && (!self.unavailable || !live.contains(&p.leader()))
    }
}

fn describe(
    connection: &Connection,
    name: Option<&str>,
    filter: PartitionFilter,
) -> Result<(), ToolError> {
    let metadata = connection.metadata(&connection.probe(None)?, name)?;
    let live: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
    let mut topics: Vec<_> = metadata
        .topics()
        .iter()
        .filter(|t| name.is_none_or(|n| t.name() == n))
        .collect();
    topics.sort_by_key(|t| t.name());
    if let (Some(name), true) = (name, topics.is_empty()) {
        return Err(ToolError::UnknownTopic(name.to_string()));
    }
    let admin = connection.admin()?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut documents = Vec::new();
    let list = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    for topic in topics {
        let name = topic.name();
        let mut partitions: Vec<_> = topic
            .partitions()
            .iter()
            .filter(|p| filter.keeps(p, &live))
            .collect();
        partitions.sort_by_key(|p| p.id());
        if filter.is_set() && partitions.is_empty() {
            continue;
        }
        let configs = match filter.is_set() {
            true => Vec::new(),
            false => topic_configs(connection, &admin, name)?,
        };
        match connection.output {
            Output::Table => {
                if !filter.is_set() {
                    let overrides: Vec<String> = configs
                        .iter()
                        .filter(|(_, _, is_override)| *is_override)
                        .map(|(k, v, _)| format!("{k}={v}"))
                        .collect();
                    println!(
                        "Topic: {name}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
                        partitions.len(),
                        partitions.first().map_or(0, |p| p.replicas().len()),
                        overrides.join(",")
                    );
                }
                rows.extend(partitions.iter().map(|p| {
                    vec![
                        name.to_string(),
                        p.id().to_string(),
                        p.leader().to_string(),
                        list(p.replicas()),
                        list(p.isr()),
                    ]
                }));
            }
            Output::Json => {
                let partitions: Vec<_> = partitions
                    .iter()
                    .map(|p| {
                        json!({
                            "partition": p.id(),
                            "leader": p.leader(),
                            "replicas": p.replicas(),
                            "isr": p.isr(),
                        })
                    })
                    .collect();
                let configs: BTreeMap<_, _> = configs
                    .iter()
                    .map(|(k, v, is_override)| {
                        (k.clone(), json!({ "value": v, "override": is_override }))
                    })
                    .collect();
                documents
                    .push(json!({ "topic": name, "partitions": partitions, "configs": configs }));
            }
        }
    }
    match connection.output {
        Output::Table => table::print(&["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"], &rows),
        // One topic named: its document, as before; else a list.
        Output::Json => match (name, documents.len()) {
            (Some(_), 1) => println!("{}", documents[0]),
            _ => println!("{}", serde_json::Value::Array(documents)),
        },
    }
    Ok(())
}

fn alter(
    connection: &Connection,
    name: &str,
    partitions: Option<i32>,
    configs: &[(String, String)],
    delete_configs: &[String],
) -> Result<(), ToolError> {
    if partitions.is_none() && configs.is_empty() && delete_configs.is_empty() {
        return Err(ToolError::Usage(
            "topic alter: give --partitions, --config or --delete-config".into(),
        ));
    }
    connection.metadata(&connection.probe(None)?, Some(name))?;
    let admin = connection.admin()?;
    if let Some(count) = partitions {
        let count = usize::try_from(count)
            .map_err(|_| ToolError::Usage(format!("--partitions {count}: must be positive")))?;
        let results = block_on(admin.create_partitions(
            [&NewPartitions::new(name, count)],
            &connection.admin_options(),
        ))
        .map_err(|e| ToolError::client(format!("add partitions to {name}"), e))?;
        check_results(&format!("set the partitions of {name} to {count}"), results)?;
    }
    if !configs.is_empty() || !delete_configs.is_empty() {
        // AlterConfigs replaces a topic's overrides as a whole (librdkafka's
        // IncrementalAlterConfigs is not in the rdkafka crate): start from the current
        // overrides, as kafka-configs.sh did before KIP-339.
        let mut wanted: BTreeMap<String, String> = topic_configs(connection, &admin, name)?
            .into_iter()
            .filter(|(_, _, is_override)| *is_override)
            .map(|(k, v, _)| (k, v))
            .collect();
        for key in delete_configs {
            wanted.remove(key);
        }
        for (key, value) in configs {
            wanted.insert(key.clone(), value.clone());
        }
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(name));
        for (key, value) in &wanted {
            alter = alter.set(key, value);
        }
        let results = block_on(admin.alter_configs([&alter], &connection.admin_options()))
            .map_err(|e| ToolError::client(format!("alter configs of {name}"), e))?;
        check_results(&format!("alter configs of {name}"), results)?;
    }
    report(connection, "Altered topic", "altered", name);
    Ok(())
}

fn delete(connection: &Connection, name: &str) -> Result<(), ToolError> {
    connection.metadata(&connection.probe(None)?, Some(name))?;
    let admin = connection.admin()?;
    let results = block_on(admin.delete_topics(&[name], &connection.admin_options()))
        .map_err(|e| ToolError::client(format!("delete topic {name}"), e))?;
    check_results(&format!("delete topic {name}"), results)?;
    report(connection, "Deleted topic", "deleted", name);
    Ok(())
}
