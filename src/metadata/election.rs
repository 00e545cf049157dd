//! How a partition's leader is chosen, apart from any I/O: the rule every election shares
//! (Kafka's `PartitionChangeBuilder`), and the elections an operator or the controller asks for
//! (ElectLeaders, API 43, KIP-460; `auto.leader.rebalance.enable`, KAFKA-13682):
//! - preferred: the first replica of the assignment leads again, when it is alive and in the
//!   ISR; already leading is ELECTION_NOT_NEEDED, anything else PREFERRED_LEADER_NOT_AVAILABLE;
//! - unclean: a partition without a leader gets one even outside the ISR (risking the loss of
//!   acknowledged records); a partition with a leader is ELECTION_NOT_NEEDED, one with no live
//!   replica ELIGIBLE_LEADERS_NOT_AVAILABLE.
//!
//! Every leader change bumps the leader epoch; any change bumps the partition epoch.

use super::model::{ClusterMeta, PartitionMeta, TopicMeta, NO_LEADER};
use super::records::MetadataRecord;
use crate::error_code::ErrorCode;

/// ElectLeaders' election_type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

impl ElectionType {
    /// The wire value (0 preferred, 1 unclean); anything else is not an election type.
    pub fn from_wire(value: i8) -> Option<Self> {
        match value {
            0 => Some(ElectionType::Preferred),
            1 => Some(ElectionType::Unclean),
            _ => None,
        }
    }
}

/// One partition's answer to ElectLeaders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionOutcome {
    pub topic: String,
    pub partition: i32,
    pub result: Result<(), (ErrorCode, String)>,
}

/// The elections ElectLeaders asks for: `partitions` names (topic, partition) pairs, or `None`
/// for every partition, in which case, as Kafka's controller does, partitions that already
/// have the leader asked for are left out of the answer. Returns the records to commit and
/// one outcome per partition.
pub fn elect_leaders(
    state: &ClusterMeta,
    kind: ElectionType,
    partitions: Option<&[(String, i32)]>,
) -> (Vec<MetadataRecord>, Vec<ElectionOutcome>) {
    // (topic, partition, whether ELECTION_NOT_NEEDED is answered)
    let targets: Vec<(&str, i32, bool)> = match partitions {
        Some(asked) => asked.iter().map(|(t, p)| (t.as_str(), *p, true)).collect(),
        None => state
            .topics
            .values()
            .flat_map(|t| (0..t.partitions.len() as i32).map(|p| (t.name.as_str(), p, false)))
            .collect(),
    };
    let mut records = Vec::new();
    let mut outcomes = Vec::new();
    for (name, index, answer_unneeded) in targets {
        let topic = state.topics.get(name);
        let result = match topic.and_then(|t| t.partition(index).map(|p| (t, p))) {
            None => Err((
                ErrorCode::UnknownTopicOrPartition,
                format!("{name}-{index} does not exist"),
            )),
            Some((topic, p)) => elect_one(state, p, kind).map(|next| {
                if let Some(next) = changed(p, next) {
                    records.push(MetadataRecord::Partition {
                        topic_id: topic.id,
                        partition: index,
                        state: next,
                    });
                }
            }),
        };
        let unneeded = matches!(&result, Err((ErrorCode::ElectionNotNeeded, _)));
        if answer_unneeded || !unneeded {
            outcomes.push(ElectionOutcome {
                topic: name.to_string(),
                partition: index,
                result,
            });
        }
    }
    (records, outcomes)
}

/// `auto.leader.rebalance.enable`'s periodic work: every partition whose preferred replica
/// is alive and in the ISR but not leading gets it back as leader.
pub fn rebalance_preferred_leaders(state: &ClusterMeta) -> Vec<MetadataRecord> {
    elect_leaders(state, ElectionType::Preferred, None).0
}

/// The partition's state after the election `kind`, or why there is none.
fn elect_one(
    state: &ClusterMeta,
    p: &PartitionMeta,
    kind: ElectionType,
) -> Result<PartitionMeta, (ErrorCode, String)> {
    let alive = |b: i32| state.is_live(b);
    let mut next = p.clone();
    match kind {
        ElectionType::Preferred => {
            let preferred = p.replicas.first().copied().unwrap_or(NO_LEADER);
            if p.leader == preferred {
                return Err((
                    ErrorCode::ElectionNotNeeded,
                    format!("broker {preferred}, the preferred replica, already leads"),
                ));
            }
            if !alive(preferred) || !p.isr.contains(&preferred) {
                return Err((
                    ErrorCode::PreferredLeaderNotAvailable,
                    format!(
                        "the preferred replica, broker {preferred}, is {}",
                        if alive(preferred) {
                            "not in the ISR"
                        } else {
                            "not alive"
                        }
                    ),
                ));
            }
            next.leader = preferred;
        }
        ElectionType::Unclean => {
            if p.leader != NO_LEADER {
                return Err((
                    ErrorCode::ElectionNotNeeded,
                    format!("broker {} leads", p.leader),
                ));
            }
            next.leader = elect(p, alive, true);
            if next.leader == NO_LEADER {
                return Err((
                    ErrorCode::EligibleLeadersNotAvailable,
                    "no replica of the partition is alive".into(),
                ));
            }
            if !next.isr.contains(&next.leader) {
                next.isr = vec![next.leader];
            }
        }
    }
    Ok(next)
}

/// A partition record for every partition that `rework` gives a different state, with its
/// epochs bumped.
pub(super) fn partition_changes(
    state: &ClusterMeta,
    rework: impl Fn(&TopicMeta, &PartitionMeta) -> Option<PartitionMeta>,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in state.topics.values() {
        for (index, p) in topic.partitions.iter().enumerate() {
            if let Some(next) = rework(topic, p).and_then(|next| changed(p, next)) {
                records.push(MetadataRecord::Partition {
                    topic_id: topic.id,
                    partition: index as i32,
                    state: next,
                });
            }
        }
    }
    records
}

/// The first replica in assignment order that is in the ISR and alive; else, when unclean
/// election is allowed, the first live replica; else none.
pub(super) fn elect(p: &PartitionMeta, alive: impl Fn(i32) -> bool, unclean: bool) -> i32 {
    let in_sync = p
        .replicas
        .iter()
        .copied()
        .find(|b| p.isr.contains(b) && alive(*b));
    match in_sync {
        Some(leader) => leader,
        None if unclean => p
            .replicas
            .iter()
            .copied()
            .find(|b| alive(*b))
            .unwrap_or(NO_LEADER),
        None => NO_LEADER,
    }
}

/// `next` with its epochs bumped, when it differs from `old`.
fn changed(old: &PartitionMeta, mut next: PartitionMeta) -> Option<PartitionMeta> {
    if *old == next {
        return None;
    }
    if next.leader != old.leader {
        next.leader_epoch = old.leader_epoch + 1;
    }
    next.partition_epoch = old.partition_epoch + 1;
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::liveness::tests::cluster;
    use crate::metadata::liveness::{fence, unfence};
    use crate::metadata::records::applied;

    fn codes(outcomes: &[ElectionOutcome]) -> Vec<(i32, ErrorCode)> {
        outcomes
            .iter()
            .map(|o| {
                (
                    o.partition,
                    o.result.as_ref().err().map_or(ErrorCode::None, |e| e.0),
                )
            })
            .collect()
    }

    fn asked(partitions: &[i32]) -> Vec<(String, i32)> {
        partitions.iter().map(|p| ("t".to_string(), *p)).collect()
    }

    #[test]
    fn preferred_election_brings_back_an_in_sync_preferred_replica() {
        let mut state = cluster();
        // Broker 1 leaves (partition 0 moves to 2) and returns; until it is back in the ISR
        // (replication's AlterPartition) it cannot lead.
        state = applied(&state, &fence(&state, 1, false)).unwrap();
        state = applied(&state, &unfence(&state, 1)).unwrap();
        let (records, outcomes) =
            elect_leaders(&state, ElectionType::Preferred, Some(&asked(&[0, 1, 7])));
        assert!(records.is_empty());
        assert_eq!(
            codes(&outcomes),
            vec![
                (0, ErrorCode::PreferredLeaderNotAvailable),
                (1, ErrorCode::ElectionNotNeeded),
                (7, ErrorCode::UnknownTopicOrPartition),
            ]
        );
        // Back in the ISR, it leads again with a new leader epoch.
        let mut p0 = state.topics["t"].partitions[0].clone();
        p0.isr.push(1);
        state.topics.get_mut("t").unwrap().partitions[0] = p0;
        let (records, outcomes) = elect_leaders(&state, ElectionType::Preferred, None);
        // Every partition asked (all), but only the one that needed an election is answered.
        assert_eq!(codes(&outcomes), vec![(0, ErrorCode::None)]);
        let next = applied(&state, &records).unwrap();
        let p = &next.topics["t"].partitions[0];
        assert_eq!((p.leader, p.leader_epoch), (1, 2));
        assert!(rebalance_preferred_leaders(&next).is_empty());
    }

    #[test]
    fn unclean_election_only_for_a_partition_without_leader() {
        let mut state = cluster();
        for id in [1, 2, 3] {
            state = applied(&state, &fence(&state, id, false)).unwrap();
        }
        let (_, outcomes) = elect_leaders(&state, ElectionType::Unclean, Some(&asked(&[0])));
        assert_eq!(
            codes(&outcomes),
            vec![(0, ErrorCode::EligibleLeadersNotAvailable)]
        );
        state = applied(&state, &unfence(&state, 1)).unwrap();
        // Partition 0's last ISR member is 3: broker 1 only leads uncleanly.
        assert_eq!(state.topics["t"].partitions[0].leader, NO_LEADER);
        let (records, outcomes) = elect_leaders(&state, ElectionType::Unclean, Some(&asked(&[0])));
        assert_eq!(codes(&outcomes), vec![(0, ErrorCode::None)]);
        let next = applied(&state, &records).unwrap();
        let p = &next.topics["t"].partitions[0];
        assert_eq!((p.leader, &p.isr), (1, &vec![1]));
        let (records, outcomes) = elect_leaders(&next, ElectionType::Unclean, Some(&asked(&[0])));
        assert!(records.is_empty());
        assert_eq!(codes(&outcomes), vec![(0, ErrorCode::ElectionNotNeeded)]);
    }
}
