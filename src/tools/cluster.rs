//! `weir cluster describe`: the brokers (id, address, rack), the active controller, and the
//! metadata quorum (leader, epoch, high watermark, each voter's lag), as Kafka's
//! `kafka-cluster.sh` and `kafka-metadata-quorum.sh describe --status --replication` show them.
//! librdkafka has no DescribeQuorum, so this speaks the two requests (Metadata v12,
//! DescribeQuorum v1) itself over one connection ([`RawClient`]).

use clap::Subcommand;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    ApiKey, DescribeQuorumRequest, DescribeQuorumResponse, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::raw_client::RawClient;
use super::{table, Connection, Output, ToolError};

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Brokers, the active controller and the metadata quorum's state.
    ///
    /// Example: weir cluster describe --bootstrap-server 127.0.0.1:9092
    Describe {
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn run(command: ClusterCommand) -> Result<(), ToolError> {
    match command {
        ClusterCommand::Describe { connection } => describe(&connection),
    }
}

fn describe(connection: &Connection) -> Result<(), ToolError> {
    let mut client = RawClient::connect(connection)?;
    let metadata: MetadataResponse = client.request(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(Vec::new())),
    )?;
    let quorum: DescribeQuorumResponse = client.request(
        ApiKey::DescribeQuorum,
        1,
        &DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]),
    )?;
    let partition = quorum
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .filter(|_| quorum.error_code == 0)
        .ok_or_else(|| {
            ToolError::Usage(format!(
                "DescribeQuorum answered error {} (is the broker a Weir or KRaft node?)",
                quorum.error_code
            ))
        })?;
    // The active controller is the quorum's leader. (Metadata's controller id is a broker
    // clients can send admin requests to: with controller-only nodes, not the controller.)
    let controller = partition.leader_id.0;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let ago = |ts: i64| (ts >= 0).then(|| (now_ms - ts).max(0));
    match connection.output {
        Output::Table => {
            println!(
                "ClusterId: {}\tController: {controller}",
                metadata.cluster_id.as_deref().unwrap_or("")
            );
            let brokers: Vec<Vec<String>> = metadata
                .brokers
                .iter()
                .map(|b| {
                    vec![
                        b.node_id.0.to_string(),
                        format!("{}:{}", b.host.as_str(), b.port),
                        b.rack.as_deref().unwrap_or("-").to_string(),
                        if b.node_id.0 == controller { "yes" } else { "" }.to_string(),
                    ]
                })
                .collect();
            table::print(&["BROKER", "ADDRESS", "RACK", "CONTROLLER"], &brokers);
            println!(
                "\nQuorum: leader {}\tepoch {}\thigh watermark {}",
                partition.leader_id.0, partition.leader_epoch, partition.high_watermark
            );
            let voters: Vec<Vec<String>> = partition
                .current_voters
                .iter()
                .map(|v| {
                    vec![
                        v.replica_id.0.to_string(),
                        v.log_end_offset.to_string(),
                        (partition.high_watermark - v.log_end_offset)
                            .max(0)
                            .to_string(),
                        ago(v.last_fetch_timestamp)
                            .map_or("-".to_string(), |ms| format!("{ms} ms ago")),
                    ]
                })
                .collect();
            table::print(&["VOTER", "LOG END", "LAG", "LAST HEARD"], &voters);
        }
        Output::Json => {
            let brokers: Vec<_> = metadata
                .brokers
                .iter()
                .map(|b| {
                    json!({
                        "id": b.node_id.0,
                        "host": b.host.as_str(),
                        "port": b.port,
                        "rack": b.rack.as_deref(),
                    })
                })
                .collect();
            let voters: Vec<_> = partition
                .current_voters
                .iter()
                .map(|v| {
                    json!({
                        "id": v.replica_id.0,
                        "log_end": v.log_end_offset,
                        "lag": (partition.high_watermark - v.log_end_offset).max(0),
                        "last_heard_ms_ago": ago(v.last_fetch_timestamp),
                    })
                })
                .collect();
            println!(
                "{}",
                json!({
                    "cluster_id": metadata.cluster_id.as_deref(),
                    "controller": controller,
                    "brokers": brokers,
                    "quorum": {
                        "leader": partition.leader_id.0,
                        "epoch": partition.leader_epoch,
                        "high_watermark": partition.high_watermark,
                        "voters": voters,
                    },
                })
            );
        }
    }
    Ok(())
}
