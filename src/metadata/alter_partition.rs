//! AlterPartition (API 56, KIP-497, KIP-841) on the controller, apart from any I/O: a
//! partition's leader asks to change its ISR (drop a follower that fell behind, add one that
//! caught up), and the controller, the ISR's only writer, checks the request against the
//! current state as Kafka's `ReplicationControlManager` does:
//! - the requesting broker's epoch (STALE_BROKER_EPOCH), the partition (UNKNOWN_TOPIC_ID,
//!   UNKNOWN_TOPIC_OR_PARTITION);
//! - the leader epoch (FENCED_LEADER_EPOCH: the requester is a deposed leader), that the
//!   requester leads (INVALID_REQUEST), the partition epoch (INVALID_UPDATE_VERSION: the ISR
//!   changed since the leader last saw it);
//! - the new ISR: replicas only, no duplicates, the leader included (INVALID_REQUEST); every
//!   member registered and unfenced, not shutting down (INELIGIBLE_REPLICA).
//!
//! An accepted change is one partition record with the new ISR and the partition epoch bumped.

use uuid::Uuid;

use super::model::{ClusterMeta, PartitionMeta};
use super::records::MetadataRecord;
use crate::error_code::ErrorCode;

/// One partition's part of an AlterPartition request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// Checks the requesting broker's registration: STALE_BROKER_EPOCH for another incarnation.
pub fn check_broker(state: &ClusterMeta, broker: i32, broker_epoch: i64) -> Result<(), ErrorCode> {
    match state.brokers.get(&broker) {
        Some(b) if b.epoch == broker_epoch => Ok(()),
        _ => Err(ErrorCode::StaleBrokerEpoch),
    }
}

/// The partition's new state and its record, or why the change is refused.
pub fn alter_partition(
    state: &ClusterMeta,
    broker: i32,
    change: &IsrChange,
) -> Result<(MetadataRecord, PartitionMeta), ErrorCode> {
    let topic = state
        .topic_by_id(change.topic_id)
        .ok_or(ErrorCode::UnknownTopicId)?;
    let current = topic
        .partition(change.partition)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    if change.leader_epoch != current.leader_epoch {
        return Err(ErrorCode::FencedLeaderEpoch);
    }
    if current.leader != broker {
        return Err(ErrorCode::InvalidRequest);
    }
    if change.partition_epoch != current.partition_epoch {
        return Err(ErrorCode::InvalidUpdateVersion);
    }
    let mut seen = std::collections::BTreeSet::new();
    let valid = change
        .new_isr
        .iter()
        .all(|b| current.replicas.contains(b) && seen.insert(*b));
    if !valid || !change.new_isr.contains(&current.leader) {
        return Err(ErrorCode::InvalidRequest);
    }
    // A broker joins the ISR only while alive; one already in it may stay listed.
    if change
        .new_isr
        .iter()
        .any(|b| !current.isr.contains(b) && !state.is_live(*b))
    {
        return Err(ErrorCode::IneligibleReplica);
    }
    let mut next = current.clone();
    next.isr = change.new_isr.clone();
    next.partition_epoch += 1;
    Ok((
        MetadataRecord::Partition {
            topic_id: change.topic_id,
            partition: change.partition,
            state: next.clone(),
        },
        next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::liveness::tests::cluster;
    use crate::metadata::liveness::{fence, shut_down};
    use crate::metadata::records::applied;

    fn change(state: &ClusterMeta, partition: i32, new_isr: &[i32]) -> IsrChange {
        let topic = &state.topics["t"];
        let p = &topic.partitions[partition as usize];
        IsrChange {
            topic_id: topic.id,
            partition,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            new_isr: new_isr.to_vec(),
        }
    }

    #[test]
    fn the_leader_shrinks_and_expands_its_isr() {
        let state = cluster();
        // Partition 0: replicas [1, 2, 3], led by 1.
        let (record, next) = alter_partition(&state, 1, &change(&state, 0, &[1, 3])).unwrap();
        assert_eq!((next.isr.clone(), next.partition_epoch), (vec![1, 3], 1));
        let state = applied(&state, &[record]).unwrap();
        let (record, next) = alter_partition(&state, 1, &change(&state, 0, &[1, 3, 2])).unwrap();
        assert_eq!(next.isr, vec![1, 3, 2]);
        assert_eq!(next.leader_epoch, 0, "an ISR change is not a leader change");
        applied(&state, &[record]).unwrap();
    }

    #[test]
    fn stale_or_invalid_requests_are_refused_with_kafkas_codes() {
        let state = cluster();
        let mut stale = change(&state, 0, &[1, 2]);
        stale.partition_epoch -= 1;
        assert_eq!(
            alter_partition(&state, 1, &stale),
            Err(ErrorCode::InvalidUpdateVersion)
        );
        let mut deposed = change(&state, 0, &[1, 2]);
        deposed.leader_epoch -= 1;
        assert_eq!(
            alter_partition(&state, 1, &deposed),
            Err(ErrorCode::FencedLeaderEpoch)
        );
        // Broker 2 does not lead partition 0.
        assert_eq!(
            alter_partition(&state, 2, &change(&state, 0, &[1, 2])),
            Err(ErrorCode::InvalidRequest)
        );
        for bad in [&[2, 3][..], &[1, 1][..], &[1, 4][..]] {
            assert_eq!(
                alter_partition(&state, 1, &change(&state, 0, bad)),
                Err(ErrorCode::InvalidRequest),
                "{bad:?}"
            );
        }
        let mut unknown = change(&state, 0, &[1]);
        unknown.topic_id = Uuid::from_u128(99);
        assert_eq!(
            alter_partition(&state, 1, &unknown),
            Err(ErrorCode::UnknownTopicId)
        );
        assert_eq!(
            check_broker(&state, 1, 12345),
            Err(ErrorCode::StaleBrokerEpoch)
        );
        assert_eq!(check_broker(&state, 1, state.brokers[&1].epoch), Ok(()));
    }

    #[test]
    fn only_live_brokers_join_the_isr() {
        let state = cluster();
        let state = applied(&state, &fence(&state, 2, false)).unwrap();
        let state = applied(&state, &shut_down(&state, 3, false)).unwrap();
        // Partition 0 is [1] now: 2 (fenced) and 3 (shutting down) may not join.
        assert_eq!(state.topics["t"].partitions[0].isr, vec![1]);
        for joining in [&[1, 2][..], &[1, 3][..]] {
            assert_eq!(
                alter_partition(&state, 1, &change(&state, 0, joining)),
                Err(ErrorCode::IneligibleReplica)
            );
        }
    }
}
