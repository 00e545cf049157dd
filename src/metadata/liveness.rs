//! The controller's decisions about brokers, apart from any I/O: registration (Kafka's
//! BrokerRegistration), fencing when a session lapses, unfencing once caught up (BrokerHeartbeat)
//! and controlled shutdown, each with the leader elections it causes. Kafka's rules
//! (`ClusterControlManager`, `ReplicationControlManager`, `PartitionChangeBuilder`):
//! - a broker leaving (fenced or shutting down) leaves every ISR it is in, unless it is the last
//!   member: the ISR never empties, so a returning last member can lead again without data
//!   loss;
//! - a partition whose leader left gets the first replica, in assignment order, that is in the
//!   ISR and alive; with none the partition is offline (leader -1), unless
//!   `unclean.leader.election.enable` (topic override, else the broker default) lets a live
//!   replica outside the ISR lead, which then is the whole ISR;
//! - a leader change bumps the leader epoch; any change bumps the partition epoch.

use uuid::Uuid;

use super::election::{elect, partition_changes};
use super::model::{BrokerMeta, ClusterMeta, Endpoint, NO_LEADER};
use super::records::MetadataRecord;
use crate::error_code::ErrorCode;

/// A BrokerRegistration request.
#[derive(Debug, Clone)]
pub struct Registration {
    pub id: i32,
    pub incarnation: Uuid,
    pub cluster_id: String,
    /// Its advertised listeners.
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
}

/// Registers (or re-registers after a restart) a broker, fenced until it heartbeats caught up.
/// `session_valid`: the broker's current registration still has a live session, so a new
/// incarnation is a second process with the same id (DUPLICATE_BROKER_REGISTRATION).
pub fn register(
    state: &ClusterMeta,
    registration: &Registration,
    epoch: i64,
    session_valid: bool,
) -> Result<Vec<MetadataRecord>, ErrorCode> {
    // An empty id is a node's first start: it takes the cluster's (as an unformatted data dir
    // would after `kafka-storage format` with the cluster's id).
    if !state.cluster_id.is_empty()
        && !registration.cluster_id.is_empty()
        && registration.cluster_id != state.cluster_id
    {
        return Err(ErrorCode::InconsistentClusterId);
    }
    let mut records = Vec::new();
    if let Some(existing) = state.brokers.get(&registration.id) {
        if existing.incarnation != registration.incarnation && session_valid && !existing.fenced {
            return Err(ErrorCode::DuplicateBrokerRegistration);
        }
        // The previous incarnation is gone: what it led moves (or goes offline) before the new
        // one, fenced until caught up, replaces it.
        if !existing.fenced {
            records = fence(state, registration.id, false);
        }
    }
    records.push(MetadataRecord::RegisterBroker(BrokerMeta {
        id: registration.id,
        epoch,
        incarnation: registration.incarnation,
        endpoints: registration.endpoints.clone(),
        rack: registration.rack.clone(),
        fenced: true,
        shutting_down: false,
    }));
    Ok(records)
}

/// The broker's session lapsed: it is fenced and its partitions move.
pub fn fence(state: &ClusterMeta, id: i32, unclean_default: bool) -> Vec<MetadataRecord> {
    leave(state, id, unclean_default, true, false)
}

/// The broker asked for a controlled shutdown: its leaderships move before it stops.
pub fn shut_down(state: &ClusterMeta, id: i32, unclean_default: bool) -> Vec<MetadataRecord> {
    leave(state, id, unclean_default, false, true)
}

fn leave(
    state: &ClusterMeta,
    id: i32,
    unclean_default: bool,
    fenced: bool,
    shutting_down: bool,
) -> Vec<MetadataRecord> {
    let Some(broker) = state.brokers.get(&id) else {
        return Vec::new();
    };
    let mut records = vec![MetadataRecord::BrokerState {
        id,
        epoch: broker.epoch,
        fenced: fenced || broker.fenced,
        shutting_down,
    }];
    let alive = |b: i32| b != id && state.is_live(b);
    records.extend(partition_changes(state, |topic, p| {
        if !p.replicas.contains(&id) && p.leader != id {
            return None;
        }
        let unclean = topic
            .configs
            .overrides()
            .get("unclean.leader.election.enable")
            .map_or(unclean_default, |v| v.eq_ignore_ascii_case("true"));
        let mut next = p.clone();
        if next.isr.len() > 1 {
            next.isr.retain(|b| *b != id);
        }
        if next.leader == id || next.leader == NO_LEADER {
            next.leader = elect(&next, alive, unclean);
            if next.leader != NO_LEADER && !next.isr.contains(&next.leader) {
                next.isr = vec![next.leader];
            }
        }
        Some(next)
    }));
    records
}

/// A fenced broker is unfenced; partitions left offline with it in their ISR get it back as
/// leader.
pub fn unfence(state: &ClusterMeta, id: i32) -> Vec<MetadataRecord> {
    let Some(broker) = state.brokers.get(&id) else {
        return Vec::new();
    };
    let mut records = vec![MetadataRecord::BrokerState {
        id,
        epoch: broker.epoch,
        fenced: false,
        shutting_down: false,
    }];
    let alive = |b: i32| b == id || state.is_live(b);
    records.extend(partition_changes(state, |_, p| {
        if p.leader != NO_LEADER || !p.isr.contains(&id) {
            return None;
        }
        let mut next = p.clone();
        next.leader = elect(&next, alive, false);
        Some(next)
    }));
    records
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::metadata::records::applied;
    use crate::metadata::{PartitionMeta, TopicMeta};

    fn registration(id: i32, incarnation: u128) -> Registration {
        Registration {
            id,
            incarnation: Uuid::from_u128(incarnation),
            cluster_id: "c".into(),
            endpoints: vec![Endpoint::plaintext(format!("127.0.0.1{id}"), 9092)],
            rack: None,
        }
    }

    /// Three live brokers and topic `t` with partitions led by 1, 2 and 3, all in sync.
    pub(crate) fn cluster() -> ClusterMeta {
        let mut state = ClusterMeta {
            cluster_id: "c".into(),
            ..Default::default()
        };
        for id in 1..=3 {
            let records = register(&state, &registration(id, 1), id as i64, false).unwrap();
            state = applied(&state, &records).unwrap();
            state = applied(&state, &unfence(&state, id)).unwrap();
        }
        let partitions = [[1, 2, 3], [2, 3, 1], [3, 1, 2]]
            .iter()
            .map(|r| PartitionMeta {
                leader: r[0],
                replicas: r.to_vec(),
                isr: r.to_vec(),
                leader_epoch: 0,
                partition_epoch: 0,
            })
            .collect();
        state.topics.insert(
            "t".into(),
            TopicMeta {
                name: "t".into(),
                id: Uuid::from_u128(1),
                partitions,
                configs: Default::default(),
            },
        );
        state
    }

    #[test]
    fn a_fenced_leader_is_replaced_by_the_next_in_sync_replica() {
        let state = cluster();
        let next = applied(&state, &fence(&state, 1, false)).unwrap();
        assert!(next.brokers[&1].fenced);
        let p = &next.topics["t"].partitions;
        assert_eq!(
            (p[0].leader, &p[0].isr, p[0].leader_epoch),
            (2, &vec![2, 3], 1)
        );
        // Followers leave the ISR; the leader and its epoch stay.
        assert_eq!(
            (p[1].leader, &p[1].isr, p[1].leader_epoch),
            (2, &vec![2, 3], 0)
        );
        assert_eq!(p[1].partition_epoch, 1);
    }

    #[test]
    fn the_last_in_sync_replica_keeps_the_partition_offline_until_it_returns() {
        let mut state = cluster();
        for id in [1, 2, 3] {
            state = applied(&state, &fence(&state, id, false)).unwrap();
        }
        let p = &state.topics["t"].partitions[0];
        assert_eq!((p.leader, &p.isr), (NO_LEADER, &vec![3]));
        // Broker 1 returns: not in the ISR, so no clean leader.
        state = applied(&state, &unfence(&state, 1)).unwrap();
        assert_eq!(state.topics["t"].partitions[0].leader, NO_LEADER);
        // Broker 3, the last ISR member, returns and leads.
        state = applied(&state, &unfence(&state, 3)).unwrap();
        assert_eq!(state.topics["t"].partitions[0].leader, 3);
    }

    #[test]
    fn unclean_election_picks_a_live_out_of_sync_replica() {
        let mut state = cluster();
        for id in [1, 2, 3] {
            state = applied(&state, &fence(&state, id, false)).unwrap();
        }
        state = applied(&state, &unfence(&state, 1)).unwrap();
        // A later departure re-runs the election; with unclean allowed broker 1 takes over.
        state = applied(&state, &shut_down(&state, 3, true)).unwrap();
        let p = &state.topics["t"].partitions[0];
        assert_eq!((p.leader, &p.isr), (1, &vec![1]));
    }

    #[test]
    fn registrations_check_cluster_id_and_duplicates() {
        let state = cluster();
        let mut other = registration(1, 2);
        other.cluster_id = "elsewhere".into();
        assert_eq!(
            register(&state, &other, 9, false),
            Err(ErrorCode::InconsistentClusterId)
        );
        // A second process with broker 1's id while 1's session is valid.
        assert_eq!(
            register(&state, &registration(1, 2), 9, true),
            Err(ErrorCode::DuplicateBrokerRegistration)
        );
        // After its session lapsed, a restart registers fenced.
        let records = register(&state, &registration(1, 2), 9, false).unwrap();
        let next = applied(&state, &records).unwrap();
        assert!(next.brokers[&1].fenced && next.brokers[&1].epoch == 9);
    }
}
