//! `weir leader-election`: Kafka's `kafka-leader-election.sh` over ElectLeaders (API 43,
//! KIP-460). A preferred election gives partitions back to their preferred replica (the first
//! of the assignment) when it is alive and in sync; an unclean one gives a partition without a
//! leader a live replica outside the ISR, which may lose records the old ISR acknowledged.

use clap::{Args, ValueEnum};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ElectLeadersRequest, ElectLeadersResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::raw_client::RawClient;
use super::{Connection, Output, ToolError};

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
#[value(rename_all = "UPPER")]
pub enum Election {
    /// The preferred replica leads again (safe).
    Preferred,
    /// A replica outside the ISR may lead a partition that has no leader (may lose records).
    Unclean,
}

/// Elect leaders, as kafka-leader-election.sh.
///
/// Example: weir leader-election --election-type PREFERRED --all-topic-partitions
#[derive(Args, Debug)]
pub struct LeaderElectionArgs {
    /// PREFERRED or UNCLEAN.
    #[arg(long, value_enum, ignore_case = true)]
    election_type: Election,
    /// Every partition of the cluster.
    #[arg(long, conflicts_with_all = ["topic", "partition"])]
    all_topic_partitions: bool,
    /// The topic whose partitions to elect (all of them, unless --partition is given).
    #[arg(long, required_unless_present = "all_topic_partitions")]
    topic: Option<String>,
    /// One partition of --topic.
    #[arg(long, requires = "topic")]
    partition: Option<i32>,
    #[command(flatten)]
    connection: Connection,
}

pub fn run(args: LeaderElectionArgs) -> Result<(), ToolError> {
    let mut client = RawClient::connect(&args.connection)?;
    let topic_partitions = match &args.topic {
        None => None,
        Some(topic) => {
            let partitions = match args.partition {
                Some(p) => vec![p],
                None => partitions_of(&mut client, topic)?,
            };
            Some(vec![TopicPartitions::default()
                .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                .with_partitions(partitions)])
        }
    };
    if args.election_type == Election::Unclean {
        eprintln!(
            "warning: an unclean election lets a replica outside the ISR lead; records the old ISR acknowledged may be lost"
        );
    }
    let request = ElectLeadersRequest::default()
        .with_election_type(match args.election_type {
            Election::Preferred => 0,
            Election::Unclean => 1,
        })
        .with_topic_partitions(topic_partitions)
        .with_timeout_ms(args.connection.request_timeout_ms.min(i32::MAX as u64) as i32);
    // NOT_CONTROLLER (41) is retriable, as Kafka's admin client treats it: a controller
    // election may be under way. Tried again until the request timeout.
    let deadline = std::time::Instant::now() + args.connection.timeout();
    let response = loop {
        let response: ElectLeadersResponse = client.request(ApiKey::ElectLeaders, 2, &request)?;
        if response.error_code != 41 || std::time::Instant::now() >= deadline {
            break response;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    if response.error_code != 0 {
        return Err(ToolError::Usage(format!(
            "ElectLeaders failed: {}",
            super::wire_code_name(response.error_code)
        )));
    }
    let name = match args.election_type {
        Election::Preferred => "PREFERRED",
        Election::Unclean => "UNCLEAN",
    };
    let (mut elected, mut not_needed, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for topic in &response.replica_election_results {
        for p in &topic.partition_result {
            let label = format!("{}-{}", topic.topic.0.as_str(), p.partition_id);
            match p.error_code {
                0 => elected.push(label),
                84 => not_needed.push(label), // ELECTION_NOT_NEEDED
                code => failed.push((
                    label,
                    super::wire_code_name(code),
                    p.error_message.as_deref().unwrap_or("").to_string(),
                )),
            }
        }
    }
    match args.connection.output {
        Output::Table => {
            if !elected.is_empty() {
                println!(
                    "Successfully completed leader election ({name}) for partitions {}",
                    elected.join(", ")
                );
            }
            if !not_needed.is_empty() {
                println!(
                    "Valid replica already elected for partitions {}",
                    not_needed.join(", ")
                );
            }
            if elected.is_empty() && not_needed.is_empty() && failed.is_empty() {
                println!("No partition needed a {name} election");
            }
            for (label, code, message) in &failed {
                println!("Error completing leader election ({name}) for partition {label}: {code}: {message}");
            }
        }
        Output::Json => {
            let failed: Vec<_> = failed
                .iter()
                .map(|(label, code, message)| {
                    json!({"partition": label, "error": code, "message": message})
                })
                .collect();
            println!(
                "{}",
                json!({
                    "election_type": name,
                    "elected": elected,
                    "not_needed": not_needed,
                    "failed": failed,
                })
            );
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ToolError::Usage(format!(
            "{} partition(s) had no leader elected",
            failed.len()
        )))
    }
}

/// Every partition index of `topic`, from Metadata.
fn partitions_of(client: &mut RawClient, topic: &str) -> Result<Vec<i32>, ToolError> {
    let request =
        MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(topic.to_string()))))]));
    let metadata: MetadataResponse = client.request(ApiKey::Metadata, 12, &request)?;
    let found = metadata
        .topics
        .iter()
        .find(|t| t.error_code == 0 && t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
        .ok_or_else(|| ToolError::UnknownTopic(topic.to_string()))?;
    Ok(found.partitions.iter().map(|p| p.partition_index).collect())
}
