//! The metadata log's records, in the shape of KRaft's (`TopicRecord`, `PartitionRecord`,
//! `ConfigRecord`, `RemoveTopicRecord`, `ProducerIdsRecord`): the controller decides a change as
//! records ([`super::controller::decide`]) and every broker replays them into its
//! [`ClusterMeta`] with [`apply`], the same code path for a live controller and a replaying
//! standby. Today the records are applied and the resulting snapshot is persisted on one node;
//! a replicated log of these records is the cluster issue's next step.

use uuid::Uuid;

use super::model::{BrokerMeta, ClusterMeta, PartitionMeta, TopicMeta};
use crate::config::{TopicConfigError, TopicConfigs};
use crate::security::acl::AclBinding;
use crate::security::quota::{QuotaEntity, QuotaKind, QuotaValue};
use crate::security::scram::{ScramCredential, ScramMechanism};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A topic exists (Kafka's TopicRecord); its partitions follow as partition records.
    Topic { name: String, id: Uuid },
    /// A partition's replicas, ISR, leader and epochs (Kafka's PartitionRecord). A record for
    /// the next index adds a partition; one for an existing index replaces its state.
    Partition {
        topic_id: Uuid,
        partition: i32,
        state: PartitionMeta,
    },
    /// One topic config override set, or removed when `value` is `None` (Kafka's ConfigRecord).
    TopicConfig {
        topic_id: Uuid,
        key: String,
        value: Option<String>,
    },
    /// The topic and its partitions are gone (Kafka's RemoveTopicRecord).
    RemoveTopic { id: Uuid },
    /// Producer ids below `next_block_start` are handed out or reserved (Kafka's
    /// ProducerIdsRecord).
    ProducerIds { next_block_start: i64 },
    /// A broker registered (Kafka's RegisterBrokerRecord); it starts fenced.
    RegisterBroker(BrokerMeta),
    /// A broker's liveness changed (Kafka's FenceBrokerRecord / UnfenceBrokerRecord, and
    /// BrokerRegistrationChangeRecord's in-controlled-shutdown flag).
    BrokerState {
        id: i32,
        epoch: i64,
        fenced: bool,
        shutting_down: bool,
    },
    /// The cluster's id, decided once by the first active controller (Kafka keeps it in
    /// `meta.properties`, written by `kafka-storage format`).
    ClusterId(String),
    /// A user's SCRAM credential for one mechanism, set or replaced (Kafka's
    /// UserScramCredentialRecord, KIP-554).
    ScramCredential {
        user: String,
        credential: ScramCredential,
    },
    /// A user's SCRAM credential for one mechanism removed (Kafka's
    /// RemoveUserScramCredentialRecord).
    RemoveScramCredential {
        user: String,
        mechanism: ScramMechanism,
    },
    /// An ACL added (Kafka's AccessControlEntryRecord; an ACL is its own identity here, so
    /// adding one twice is one ACL).
    Acl(AclBinding),
    /// An ACL removed (Kafka's RemoveAccessControlEntryRecord).
    RemoveAcl(AclBinding),
    /// A client quota set, or removed when `value` is `None` (Kafka's ClientQuotaRecord).
    ClientQuota {
        entity: QuotaEntity,
        kind: QuotaKind,
        value: Option<QuotaValue>,
    },
}

/// A record that does not fit the state it is applied to: a bug in the controller, or a log
/// from another cluster. Replay stops loudly rather than guess.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    #[error("topic `{name}` already exists with id {existing}")]
    TopicExists { name: String, existing: Uuid },
    #[error("no topic has id {0}")]
    UnknownTopic(Uuid),
    #[error(
        "partition {partition} of topic {topic_id} would leave a gap after {count} partitions"
    )]
    PartitionGap {
        topic_id: Uuid,
        partition: i32,
        count: usize,
    },
    #[error("topic {topic_id}: {source}")]
    Config {
        topic_id: Uuid,
        source: TopicConfigError,
    },
    #[error("producer id block {next} would go back below {current}")]
    ProducerIdsBackwards { next: i64, current: i64 },
    #[error("broker {id} epoch {epoch} is not registered")]
    UnknownBroker { id: i32, epoch: i64 },
    #[error("the cluster id is already {0}")]
    ClusterIdSet(String),
}

/// Replays one record into `state`.
pub fn apply(state: &mut ClusterMeta, record: &MetadataRecord) -> Result<(), ApplyError> {
    match record {
        MetadataRecord::Topic { name, id } => {
            if let Some(existing) = state.topics.get(name) {
                return Err(ApplyError::TopicExists {
                    name: name.clone(),
                    existing: existing.id,
                });
            }
            state.topics.insert(
                name.clone(),
                TopicMeta {
                    name: name.clone(),
                    id: *id,
                    partitions: Vec::new(),
                    configs: TopicConfigs::default(),
                },
            );
        }
        MetadataRecord::Partition {
            topic_id,
            partition,
            state: partition_state,
        } => {
            let topic = topic_mut(state, *topic_id)?;
            let count = topic.partitions.len();
            match usize::try_from(*partition) {
                Ok(index) if index < count => topic.partitions[index] = partition_state.clone(),
                Ok(index) if index == count => topic.partitions.push(partition_state.clone()),
                _ => {
                    return Err(ApplyError::PartitionGap {
                        topic_id: *topic_id,
                        partition: *partition,
                        count,
                    })
                }
            }
        }
        MetadataRecord::TopicConfig {
            topic_id,
            key,
            value,
        } => {
            let topic = topic_mut(state, *topic_id)?;
            let mut overrides = topic.configs.overrides().clone();
            match value {
                Some(value) => overrides.insert(key.clone(), value.clone()),
                None => overrides.remove(key),
            };
            topic.configs = TopicConfigs::new(overrides).map_err(|source| ApplyError::Config {
                topic_id: *topic_id,
                source,
            })?;
        }
        MetadataRecord::RemoveTopic { id } => {
            let name = topic_mut(state, *id)?.name.clone();
            state.topics.remove(&name);
        }
        MetadataRecord::ProducerIds { next_block_start } => {
            if *next_block_start < state.next_producer_id {
                return Err(ApplyError::ProducerIdsBackwards {
                    next: *next_block_start,
                    current: state.next_producer_id,
                });
            }
            state.next_producer_id = *next_block_start;
        }
        MetadataRecord::RegisterBroker(broker) => {
            state.brokers.insert(broker.id, broker.clone());
        }
        MetadataRecord::BrokerState {
            id,
            epoch,
            fenced,
            shutting_down,
        } => {
            let broker = state
                .brokers
                .get_mut(id)
                .filter(|b| b.epoch == *epoch)
                .ok_or(ApplyError::UnknownBroker {
                    id: *id,
                    epoch: *epoch,
                })?;
            broker.fenced = *fenced;
            broker.shutting_down = *shutting_down;
        }
        MetadataRecord::ClusterId(id) => {
            if !state.cluster_id.is_empty() && state.cluster_id != *id {
                return Err(ApplyError::ClusterIdSet(state.cluster_id.clone()));
            }
            state.cluster_id = id.clone();
        }
        MetadataRecord::ScramCredential { user, credential } => {
            state
                .scram_credentials
                .insert((user.clone(), credential.mechanism), credential.clone());
        }
        MetadataRecord::RemoveScramCredential { user, mechanism } => {
            state.scram_credentials.remove(&(user.clone(), *mechanism));
        }
        MetadataRecord::Acl(acl) => {
            state.acls.insert(acl.clone());
        }
        MetadataRecord::RemoveAcl(acl) => {
            state.acls.remove(acl);
        }
        MetadataRecord::ClientQuota {
            entity,
            kind,
            value,
        } => crate::security::quota::apply(&mut state.client_quotas, entity, *kind, *value),
    }
    Ok(())
}

/// Replays `records` in order into a copy of `state`.
pub fn applied(state: &ClusterMeta, records: &[MetadataRecord]) -> Result<ClusterMeta, ApplyError> {
    let mut next = state.clone();
    for record in records {
        apply(&mut next, record)?;
    }
    Ok(next)
}

fn topic_mut(state: &mut ClusterMeta, id: Uuid) -> Result<&mut TopicMeta, ApplyError> {
    state
        .topics
        .values_mut()
        .find(|t| t.id == id)
        .ok_or(ApplyError::UnknownTopic(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, id: u64) -> MetadataRecord {
        MetadataRecord::Topic {
            name: name.into(),
            id: Uuid::from_u64_pair(0, id),
        }
    }

    fn partition(id: u64, partition: i32, leader: i32) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id: Uuid::from_u64_pair(0, id),
            partition,
            state: PartitionMeta::single_replica(leader),
        }
    }

    #[test]
    fn records_replay_into_topics_partitions_and_configs() {
        let id = Uuid::from_u64_pair(0, 1);
        let state = applied(
            &ClusterMeta::default(),
            &[
                topic("t", 1),
                partition(1, 0, 3),
                partition(1, 1, 3),
                MetadataRecord::TopicConfig {
                    topic_id: id,
                    key: "retention.ms".into(),
                    value: Some("1000".into()),
                },
                // A later partition record for an existing index replaces its state.
                partition(1, 1, 4),
                MetadataRecord::ProducerIds {
                    next_block_start: 1000,
                },
            ],
        )
        .unwrap();
        let t = &state.topics["t"];
        assert_eq!(t.id, id);
        assert_eq!(t.partitions.len(), 2);
        assert_eq!(t.partitions[1].leader, 4);
        assert_eq!(t.configs.overrides()["retention.ms"], "1000");
        assert_eq!(state.next_producer_id, 1000);

        let state = applied(
            &state,
            &[
                MetadataRecord::TopicConfig {
                    topic_id: id,
                    key: "retention.ms".into(),
                    value: None,
                },
                MetadataRecord::RemoveTopic { id },
            ],
        )
        .unwrap();
        assert!(state.topics.is_empty());
    }

    #[test]
    fn records_that_do_not_fit_stop_the_replay() {
        let base = applied(&ClusterMeta::default(), &[topic("t", 1)]).unwrap();
        assert!(matches!(
            applied(&base, &[topic("t", 2)]),
            Err(ApplyError::TopicExists { .. })
        ));
        assert!(matches!(
            applied(&base, &[partition(1, 1, 0)]),
            Err(ApplyError::PartitionGap { count: 0, .. })
        ));
        assert!(matches!(
            applied(&base, &[partition(9, 0, 0)]),
            Err(ApplyError::UnknownTopic(_))
        ));
        assert!(matches!(
            applied(
                &base,
                &[MetadataRecord::TopicConfig {
                    topic_id: Uuid::from_u64_pair(0, 1),
                    key: "retention.mz".into(),
                    value: Some("1".into()),
                }]
            ),
            Err(ApplyError::Config { .. })
        ));
        let with_ids = applied(
            &base,
            &[MetadataRecord::ProducerIds {
                next_block_start: 50,
            }],
        )
        .unwrap();
        assert!(matches!(
            applied(
                &with_ids,
                &[MetadataRecord::ProducerIds {
                    next_block_start: 10
                }]
            ),
            Err(ApplyError::ProducerIdsBackwards { .. })
        ));
    }
}
