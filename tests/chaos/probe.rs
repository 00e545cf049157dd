//! What each node says about the cluster, asked over the wire with short timeouts (a paused or
//! cut-off node simply does not answer): its metadata view, and who leads the metadata quorum.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{DescribeQuorumRequest, MetadataRequest, MetadataResponse};

use crate::support::wire::{topic_name, Wire};

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// One partition as a broker describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A broker's metadata: topic → partition → view, plus the broker ids it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataView {
    pub brokers: Vec<i32>,
    pub topics: BTreeMap<String, BTreeMap<i32, PartitionView>>,
}

/// The metadata of every topic, as the broker at `address` sees it; `None` if it does not
/// answer in time.
pub fn metadata(address: &str) -> Option<MetadataView> {
    let mut wire = Wire::try_connect(address, PROBE_TIMEOUT)?;
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(None);
    let response: MetadataResponse = wire.try_request(12, &request)?;
    let mut brokers: Vec<i32> = response.brokers.iter().map(|b| b.node_id.0).collect();
    brokers.sort();
    let topics = response
        .topics
        .iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
                    isr.sort();
                    let view = PartitionView {
                        leader: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                        isr,
                    };
                    (p.partition_index, view)
                })
                .collect();
            Some((t.name.as_ref()?.to_string(), partitions))
        })
        .collect();
    Some(MetadataView { brokers, topics })
}

/// The metadata quorum's leader (KIP-595 DescribeQuorum) as the broker at `address` knows it:
/// (leader id, leader epoch).
pub fn quorum_leader(address: &str) -> Option<(i32, i32)> {
    let mut wire = Wire::try_connect(address, PROBE_TIMEOUT)?;
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic_name("__cluster_metadata"))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let response = wire.try_request(1, &request)?;
    let partition = response.topics.first()?.partitions.first()?;
    (partition.error_code == 0 && partition.leader_id.0 >= 0)
        .then_some((partition.leader_id.0, partition.leader_epoch))
}

/// Whether settled views agree and are whole: every broker answered with the same view, every
/// partition of it has a live leader and, for `full_isr_topic`, its full replica set in the
/// ISR. `Err` says what is wrong.
pub fn settled(
    views: &[(i32, Option<MetadataView>)],
    full_isr_topic: &str,
) -> Result<MetadataView, String> {
    let mut first: Option<(i32, &MetadataView)> = None;
    for (broker, view) in views {
        let Some(view) = view else {
            return Err(format!("broker {broker} does not answer Metadata"));
        };
        match first {
            None => first = Some((*broker, view)),
            Some((other, seen)) if seen != view => {
                return Err(format!(
                    "brokers {other} and {broker} disagree: {seen:?} / {view:?}"
                ))
            }
            Some(_) => {}
        }
    }
    let (_, view) = first.ok_or("no broker")?;
    for (topic, partitions) in &view.topics {
        for (partition, p) in partitions {
            if p.leader < 0 || !view.brokers.contains(&p.leader) {
                return Err(format!("{topic}-{partition} has no live leader: {p:?}"));
            }
            let mut replicas = p.replicas.clone();
            replicas.sort();
            if topic == full_isr_topic && p.isr != replicas {
                return Err(format!("{topic}-{partition} is under-replicated: {p:?}"));
            }
        }
    }
    Ok(view.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(leader: i32, isr: &[i32]) -> MetadataView {
        let partition = PartitionView {
            leader,
            leader_epoch: 3,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
        };
        MetadataView {
            brokers: vec![1, 2, 3],
            topics: BTreeMap::from([("t".to_string(), BTreeMap::from([(0, partition)]))]),
        }
    }

    #[test]
    fn settled_needs_agreement_a_live_leader_and_a_full_isr() {
        let whole = view(2, &[1, 2, 3]);
        let all = |v: &MetadataView| {
            vec![
                (1, Some(v.clone())),
                (2, Some(v.clone())),
                (3, Some(v.clone())),
            ]
        };
        assert_eq!(settled(&all(&whole), "t"), Ok(whole.clone()));
        assert!(settled(&all(&view(2, &[2, 3])), "t")
            .unwrap_err()
            .contains("under-replicated"));
        assert!(settled(&all(&view(2, &[2, 3])), "other").is_ok());
        assert!(settled(&all(&view(-1, &[1, 2, 3])), "t")
            .unwrap_err()
            .contains("no live leader"));
        let mut split = all(&whole);
        split[2].1 = Some(view(3, &[1, 2, 3]));
        assert!(settled(&split, "t").unwrap_err().contains("disagree"));
        split[2].1 = None;
        assert!(settled(&split, "t")
            .unwrap_err()
            .contains("does not answer"));
    }
}
