//! The cluster metadata every shard reads: topics, their partitions (leader, replicas, ISR and
//! epochs, in Kafka's shape) and configs. Which shard of a broker owns a partition's log is a
//! local choice ([`place_partition`]), never part of this metadata.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::config::TopicConfigs;
use crate::security::acl::AclBinding;
use crate::security::scram::{ScramCredential, ScramMechanism};

/// One partition's replication state, as Kafka's PartitionRecord / PartitionChangeRecord hold
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    /// The broker that leads the partition; [`NO_LEADER`] when it is offline.
    pub leader: i32,
    /// The brokers holding a replica, the preferred leader first (Kafka's assignment).
    pub replicas: Vec<i32>,
    /// The in-sync replicas (Kafka's ISR).
    pub isr: Vec<i32>,
    /// Bumped when the leader changes (KIP-101); fences requests of an older leader.
    pub leader_epoch: i32,
    /// Bumped on every change of the partition's state (KIP-631's partition epoch).
    pub partition_epoch: i32,
}

/// Kafka's leader id of a partition without a leader.
pub const NO_LEADER: i32 = -1;

impl PartitionMeta {
    /// A partition whose only replica, leader and ISR is `broker` (a single-node cluster).
    pub fn single_replica(broker: i32) -> Self {
        PartitionMeta {
            leader: broker,
            replicas: vec![broker],
            isr: vec![broker],
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionMeta>,
    pub configs: TopicConfigs,
}

impl TopicMeta {
    pub fn partition(&self, index: i32) -> Option<&PartitionMeta> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

/// One advertised listener of a broker (Kafka's BrokerEndpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The listener's name (PLAINTEXT, or a name of `listener.security.protocol.map`).
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Kafka's security protocol id (0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL).
    pub protocol: i16,
}

/// A registered broker (Kafka's RegisterBrokerRecord, FenceBrokerRecord, UnfenceBrokerRecord):
/// where clients reach it, and whether the controller counts it as alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMeta {
    pub id: i32,
    /// The metadata log offset of its latest registration: a heartbeat with an older epoch
    /// comes from a previous incarnation and is refused (STALE_BROKER_EPOCH).
    pub epoch: i64,
    /// A new random id per process start: a restart registers anew.
    pub incarnation: Uuid,
    /// Its advertised listeners: clients are given the one they came in on, brokers the
    /// inter-broker one (Kafka's RegisterBrokerRecord endpoints).
    pub endpoints: Vec<Endpoint>,
    /// `broker.rack`, for rack-aware replica assignment.
    pub rack: Option<String>,
    /// A fenced broker leads nothing and is left out of Metadata responses: it has not
    /// heartbeated within `broker.session.timeout.ms`, or has not caught up yet.
    pub fenced: bool,
    /// It asked for a controlled shutdown (`controlled.shutdown.enable`): its leaderships
    /// move away and no new ones come to it.
    pub shutting_down: bool,
}

impl Endpoint {
    /// A PLAINTEXT listener named PLAINTEXT (a registration from before named listeners).
    pub fn plaintext(host: impl Into<String>, port: u16) -> Self {
        Endpoint {
            name: "PLAINTEXT".to_string(),
            host: host.into(),
            port,
            protocol: 0,
        }
    }
}

impl BrokerMeta {
    /// Its endpoint on listener `name`, when it advertises one.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMeta {
    pub topics: BTreeMap<String, TopicMeta>,
    /// Registered brokers by id.
    pub brokers: BTreeMap<i32, BrokerMeta>,
    /// The next producer id InitProducerId hands out; persisted so ids never repeat.
    pub next_producer_id: i64,
    /// Kafka's cluster id (Metadata, DescribeCluster): made once, at the first start.
    pub cluster_id: String,
    /// SCRAM credentials by user and mechanism (KIP-554): what SASL/SCRAM logins are checked
    /// against, on every broker.
    pub scram_credentials: BTreeMap<(String, ScramMechanism), ScramCredential>,
    /// The cluster's ACLs (CreateAcls, DeleteAcls): what the authorizer of every broker
    /// decides with.
    pub acls: BTreeSet<AclBinding>,
    /// The cluster's client quotas (AlterClientQuotas): what every broker throttles by.
    pub client_quotas: crate::security::quota::ClientQuotas,
}

impl ClusterMeta {
    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicMeta> {
        self.topics.values().find(|t| t.id == id)
    }

    /// Whether broker `id` is registered and not fenced: it may lead partitions.
    pub fn is_live(&self, id: i32) -> bool {
        self.brokers
            .get(&id)
            .is_some_and(|b| !b.fenced && !b.shutting_down)
    }

    /// The brokers that may lead partitions, by id.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerMeta> {
        self.brokers
            .values()
            .filter(|b| !b.fenced && !b.shutting_down)
    }
}

/// The shard of this broker that owns partition `index` of `topic`: consecutive partitions go
/// to consecutive shards, starting at a shard picked by the topic name so that many
/// one-partition topics spread over the cores. A pure function of the name, the index and this
/// process's shard count, so it is computed where needed and never stored: a restart with
/// another `--smp` simply places partitions anew (all shards share one log directory).
pub fn place_partition(topic: &str, index: i32, shard_count: usize) -> u32 {
    // FNV-1a: stable across runs and Rust versions (unlike the std hasher).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in topic.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    ((hash.wrapping_add(index as u64)) % shard_count.max(1) as u64) as u32
}

/// Kafka's internal topics (`Topic.isInternal`): listed as internal in Metadata; clients may not
/// produce to, trim or delete them.
pub fn is_internal_topic(name: &str) -> bool {
    name == crate::group::store::OFFSETS_TOPIC || name == crate::txn::TRANSACTION_STATE_TOPIC
}

/// Why a topic name is refused (Kafka's `Topic.validate`): reported as INVALID_TOPIC_EXCEPTION.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("topic name is empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("topic name cannot be `{name}`"));
    }
    if name.len() > 249 {
        return Err(format!(
            "topic name is {} characters; the maximum is 249",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name `{name}` contains `{bad}`: only ASCII letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_EU-2").is_ok());
        for bad in ["", ".", "..", "a b", "ünï", "x/y", &"a".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn partitions_spread_over_shards() {
        let shards: Vec<u32> = (0..4).map(|p| place_partition("t", p, 2)).collect();
        assert_eq!(shards[0], shards[2]);
        assert_ne!(shards[0], shards[1]);
        assert_eq!(place_partition("t", 5, 1), 0);
    }
}
