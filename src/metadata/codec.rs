//! `ClusterMeta` to and from the flatbuffers tables of `metadata.fbs`. The accessors are written
//! against the flatbuffers crate's table API (what `flatc` would generate, for four small tables)
//! and every read goes through the crate's verifier first, so a damaged file is an error, never
//! undefined behaviour.

use std::collections::{BTreeMap, BTreeSet};

use flatbuffers::{
    FlatBufferBuilder, Follow, ForwardsUOffset, InvalidFlatbuffer, Table, Vector, Verifiable,
    Verifier, WIPOffset,
};
use uuid::Uuid;

use super::model::{ClusterMeta, PartitionMeta, TopicMeta, NO_LEADER};
use super::record_codec::{decode_records, encode_records, RecordDecodeError};
use super::records::MetadataRecord;
use crate::config::TopicConfigs;

pub const FILE_IDENTIFIER: &str = "WEIR";
/// Version 2 files end with a checksum trailer; version 1 files (older Weir) have none.
const FORMAT_VERSION: u32 = 2;
const FORMAT_VERSION_WITHOUT_CHECKSUM: u32 = 1;

/// The vtable slot of the n-th field of a table.
const fn slot(n: u16) -> u16 {
    4 + 2 * n
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a Weir metadata file (file identifier is not {FILE_IDENTIFIER})")]
    NotMetadata,
    #[error("damaged metadata file: {0}")]
    Invalid(#[from] InvalidFlatbuffer),
    #[error("unsupported metadata format version {0}")]
    Version(u32),
    #[error("topic `{topic}` has invalid configs: {reason}")]
    Configs { topic: String, reason: String },
    #[error("the checksum trailer is missing or damaged")]
    MissingChecksum,
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("damaged broker registrations: {0}")]
    Brokers(RecordDecodeError),
    #[error("a broker registration slot holds another record: {0}")]
    NotABroker(String),
}

/// The file ends with `WCRC` and the CRC32C of everything before it, so that damage flatbuffers'
/// verifier cannot see (a flipped digit in a config value) is found too. Files written before
/// the trailer existed have none and are read as they are.
const CHECKSUM_MAGIC: &[u8; 4] = b"WCRC";
const TRAILER_BYTES: usize = 8;

/// The flatbuffer without its checksum trailer, checked; `None` when there is no trailer (a
/// version 1 file, or a damaged one: the format version tells).
fn verified_body(bytes: &[u8]) -> Result<Option<&[u8]>, DecodeError> {
    let Some(split) = bytes.len().checked_sub(TRAILER_BYTES) else {
        return Ok(None);
    };
    let (body, trailer) = bytes.split_at(split);
    if &trailer[..4] != CHECKSUM_MAGIC {
        return Ok(None);
    }
    let stored = u32::from_be_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    let computed = crate::checksum::crc32c(body);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    Ok(Some(body))
}

macro_rules! table_view {
    ($name:ident) => {
        #[derive(Clone, Copy)]
        struct $name<'a> {
            table: Table<'a>,
        }

        impl<'a> Follow<'a> for $name<'a> {
            type Inner = $name<'a>;
            unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
                // SAFETY: the caller (the crate's Follow machinery) passes a location that the
                // verifier accepted as a table of this type.
                $name {
                    table: unsafe { Table::new(buf, loc) },
                }
            }
        }
    };
}

table_view!(PartitionRecord);
table_view!(ConfigEntry);
table_view!(TopicRecord);
table_view!(ClusterRecord);

type StrField<'a> = ForwardsUOffset<&'a str>;
type TableVec<'a, T> = ForwardsUOffset<Vector<'a, ForwardsUOffset<T>>>;

type IntVec<'a> = ForwardsUOffset<Vector<'a, i32>>;

impl<'a> PartitionRecord<'a> {
    /// Slot 0 held the owning shard before placement became a local choice: verified, never
    /// read, no longer written.
    const SHARD_UNUSED: u16 = slot(0);
    const LEADER_EPOCH: u16 = slot(1);
    const LEADER: u16 = slot(2);
    const REPLICAS: u16 = slot(3);
    const ISR: u16 = slot(4);
    const PARTITION_EPOCH: u16 = slot(5);
    fn leader_epoch(&self) -> i32 {
        // SAFETY: verified as an i32 field by run_verifier.
        unsafe { self.table.get::<i32>(Self::LEADER_EPOCH, Some(0)) }.unwrap_or(0)
    }
    fn leader(&self) -> i32 {
        // SAFETY: verified as an i32 field by run_verifier.
        unsafe { self.table.get::<i32>(Self::LEADER, Some(NO_LEADER)) }.unwrap_or(NO_LEADER)
    }
    fn broker_ids(&self, slot: u16) -> Vec<i32> {
        // SAFETY: verified as a vector of i32 by run_verifier.
        unsafe { self.table.get::<IntVec>(slot, None) }
            .map(|ids| ids.iter().collect())
            .unwrap_or_default()
    }
    fn partition_epoch(&self) -> i32 {
        // SAFETY: verified as an i32 field by run_verifier.
        unsafe { self.table.get::<i32>(Self::PARTITION_EPOCH, Some(0)) }.unwrap_or(0)
    }
}

impl Verifiable for PartitionRecord<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<u32>("shard", Self::SHARD_UNUSED, false)?
            .visit_field::<i32>("leader_epoch", Self::LEADER_EPOCH, false)?
            .visit_field::<i32>("leader", Self::LEADER, false)?
            .visit_field::<IntVec>("replicas", Self::REPLICAS, false)?
            .visit_field::<IntVec>("isr", Self::ISR, false)?
            .visit_field::<i32>("partition_epoch", Self::PARTITION_EPOCH, false)?
            .finish();
        Ok(())
    }
}

impl<'a> ConfigEntry<'a> {
    const KEY: u16 = slot(0);
    const VALUE: u16 = slot(1);
    fn key(&self) -> &'a str {
        // SAFETY: verified as a string field by run_verifier.
        unsafe { self.table.get::<StrField>(Self::KEY, None) }.unwrap_or_default()
    }
    fn value(&self) -> &'a str {
        // SAFETY: verified as a string field by run_verifier.
        unsafe { self.table.get::<StrField>(Self::VALUE, None) }.unwrap_or_default()
    }
}

impl Verifiable for ConfigEntry<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<StrField>("key", Self::KEY, true)?
            .visit_field::<StrField>("value", Self::VALUE, true)?
            .finish();
        Ok(())
    }
}

impl<'a> TopicRecord<'a> {
    const NAME: u16 = slot(0);
    const ID_HIGH: u16 = slot(1);
    const ID_LOW: u16 = slot(2);
    const PARTITIONS: u16 = slot(3);
    const CONFIGS: u16 = slot(4);
    fn name(&self) -> &'a str {
        // SAFETY: verified as a string field by run_verifier.
        unsafe { self.table.get::<StrField>(Self::NAME, None) }.unwrap_or_default()
    }
    fn id(&self) -> Uuid {
        // SAFETY: verified as u64 fields by run_verifier.
        let (high, low) = unsafe {
            (
                self.table.get::<u64>(Self::ID_HIGH, Some(0)).unwrap_or(0),
                self.table.get::<u64>(Self::ID_LOW, Some(0)).unwrap_or(0),
            )
        };
        Uuid::from_u64_pair(high, low)
    }
    fn partitions(&self) -> Option<Vector<'a, ForwardsUOffset<PartitionRecord<'a>>>> {
        // SAFETY: verified as a vector of PartitionRecord tables by run_verifier.
        unsafe {
            self.table
                .get::<TableVec<PartitionRecord>>(Self::PARTITIONS, None)
        }
    }
    fn configs(&self) -> Option<Vector<'a, ForwardsUOffset<ConfigEntry<'a>>>> {
        // SAFETY: verified as a vector of ConfigEntry tables by run_verifier.
        unsafe { self.table.get::<TableVec<ConfigEntry>>(Self::CONFIGS, None) }
    }
}

impl Verifiable for TopicRecord<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<StrField>("name", Self::NAME, true)?
            .visit_field::<u64>("id_high", Self::ID_HIGH, false)?
            .visit_field::<u64>("id_low", Self::ID_LOW, false)?
            .visit_field::<TableVec<PartitionRecord>>("partitions", Self::PARTITIONS, false)?
            .visit_field::<TableVec<ConfigEntry>>("configs", Self::CONFIGS, false)?
            .finish();
        Ok(())
    }
}

impl<'a> ClusterRecord<'a> {
    const FORMAT_VERSION: u16 = slot(0);
    const TOPICS: u16 = slot(1);
    const NEXT_PRODUCER_ID: u16 = slot(2);
    const CLUSTER_ID: u16 = slot(3);
    /// The registered brokers, as RegisterBroker records (`record_codec`).
    const BROKERS: u16 = slot(4);
    /// The metadata log position this state is the result of (a quorum snapshot).
    const RAFT_INDEX: u16 = slot(5);
    const RAFT_TERM: u16 = slot(6);
    /// The quorum's voters at that position.
    const VOTERS: u16 = slot(7);
    fn brokers(&self) -> &'a [u8] {
        // SAFETY: verified as a vector of u8 by run_verifier.
        unsafe {
            self.table
                .get::<ForwardsUOffset<Vector<'a, u8>>>(Self::BROKERS, None)
        }
        .map(|v| v.bytes())
        .unwrap_or_default()
    }
    fn u64_field(&self, slot: u16) -> u64 {
        // SAFETY: verified as a u64 field by run_verifier.
        unsafe { self.table.get::<u64>(slot, Some(0)) }.unwrap_or(0)
    }
    fn voters(&self) -> Vec<u64> {
        // SAFETY: verified as a vector of u64 by run_verifier.
        unsafe {
            self.table
                .get::<ForwardsUOffset<Vector<'a, u64>>>(Self::VOTERS, None)
        }
        .map(|ids| ids.iter().collect())
        .unwrap_or_default()
    }
    fn format_version(&self) -> u32 {
        // SAFETY: verified as a u32 field by run_verifier.
        unsafe { self.table.get::<u32>(Self::FORMAT_VERSION, Some(0)) }.unwrap_or(0)
    }
    fn topics(&self) -> Option<Vector<'a, ForwardsUOffset<TopicRecord<'a>>>> {
        // SAFETY: verified as a vector of TopicRecord tables by run_verifier.
        unsafe { self.table.get::<TableVec<TopicRecord>>(Self::TOPICS, None) }
    }
    fn next_producer_id(&self) -> i64 {
        // SAFETY: verified as an i64 field by run_verifier.
        unsafe { self.table.get::<i64>(Self::NEXT_PRODUCER_ID, Some(0)) }.unwrap_or(0)
    }
    fn cluster_id(&self) -> &'a str {
        // SAFETY: verified as a string field by run_verifier.
        unsafe { self.table.get::<StrField>(Self::CLUSTER_ID, None) }.unwrap_or_default()
    }
}

impl Verifiable for ClusterRecord<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<u32>("format_version", Self::FORMAT_VERSION, false)?
            .visit_field::<TableVec<TopicRecord>>("topics", Self::TOPICS, false)?
            .visit_field::<i64>("next_producer_id", Self::NEXT_PRODUCER_ID, false)?
            .visit_field::<StrField>("cluster_id", Self::CLUSTER_ID, false)?
            .visit_field::<ForwardsUOffset<Vector<u8>>>("brokers", Self::BROKERS, false)?
            .visit_field::<u64>("raft_index", Self::RAFT_INDEX, false)?
            .visit_field::<u64>("raft_term", Self::RAFT_TERM, false)?
            .visit_field::<ForwardsUOffset<Vector<u64>>>("voters", Self::VOTERS, false)?
            .finish();
        Ok(())
    }
}

/// The metadata as of a position of the metadata log, with the quorum's voters then: the
/// metadata file, and the snapshot a lagging quorum member is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumSnapshot {
    pub meta: ClusterMeta,
    pub index: u64,
    pub term: u64,
    pub voters: Vec<u64>,
}

/// A [`QuorumSnapshot`] borrowed from its parts, to encode without copying the metadata.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotView<'a> {
    pub meta: &'a ClusterMeta,
    pub index: u64,
    pub term: u64,
    pub voters: &'a [u64],
}

impl QuorumSnapshot {
    pub fn view(&self) -> SnapshotView<'_> {
        SnapshotView {
            meta: &self.meta,
            index: self.index,
            term: self.term,
            voters: &self.voters,
        }
    }
}

pub fn encode(meta: &ClusterMeta) -> Vec<u8> {
    encode_view(SnapshotView {
        meta,
        index: 0,
        term: 0,
        voters: &[],
    })
}

pub fn decode(bytes: &[u8]) -> Result<ClusterMeta, DecodeError> {
    decode_snapshot(bytes).map(|s| s.meta)
}

pub fn encode_snapshot(snapshot: &QuorumSnapshot) -> Vec<u8> {
    encode_view(snapshot.view())
}

pub fn encode_view(snapshot: SnapshotView<'_>) -> Vec<u8> {
    let mut bytes = flatbuffer(snapshot, FORMAT_VERSION);
    let crc = crate::checksum::crc32c(&bytes);
    bytes.extend_from_slice(CHECKSUM_MAGIC);
    bytes.extend_from_slice(&crc.to_be_bytes());
    bytes
}

/// What a partition record holds: today's fields, or (for tests of the migration) only what
/// single-node Weir wrote before the cluster shape: the owning shard and the leader epoch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PartitionShape {
    Cluster,
    #[cfg_attr(not(test), allow(dead_code))]
    SingleNodeShard,
}

fn flatbuffer(snapshot: SnapshotView<'_>, format_version: u32) -> Vec<u8> {
    flatbuffer_shaped(snapshot, format_version, PartitionShape::Cluster)
}

fn flatbuffer_shaped(
    snapshot: SnapshotView<'_>,
    format_version: u32,
    shape: PartitionShape,
) -> Vec<u8> {
    let meta = snapshot.meta;
    let mut fbb = FlatBufferBuilder::with_capacity(4096);
    let mut topics = Vec::with_capacity(meta.topics.len());
    for topic in meta.topics.values() {
        let name = fbb.create_string(&topic.name);
        let partitions: Vec<_> = topic
            .partitions
            .iter()
            .map(|p| {
                if shape == PartitionShape::SingleNodeShard {
                    let start = fbb.start_table();
                    fbb.push_slot_always::<u32>(PartitionRecord::SHARD_UNUSED, 1);
                    fbb.push_slot::<i32>(PartitionRecord::LEADER_EPOCH, p.leader_epoch, 0);
                    return fbb.end_table(start);
                }
                let replicas = fbb.create_vector(&p.replicas);
                let isr = fbb.create_vector(&p.isr);
                let start = fbb.start_table();
                fbb.push_slot::<i32>(PartitionRecord::LEADER_EPOCH, p.leader_epoch, 0);
                // Always written: NO_LEADER (-1) is also the reader's default.
                fbb.push_slot_always::<i32>(PartitionRecord::LEADER, p.leader);
                fbb.push_slot_always::<WIPOffset<_>>(PartitionRecord::REPLICAS, replicas);
                fbb.push_slot_always::<WIPOffset<_>>(PartitionRecord::ISR, isr);
                fbb.push_slot::<i32>(PartitionRecord::PARTITION_EPOCH, p.partition_epoch, 0);
                fbb.end_table(start)
            })
            .collect();
        let partitions = fbb.create_vector(&partitions);
        let configs: Vec<_> = topic
            .configs
            .overrides()
            .iter()
            .map(|(key, value)| {
                let key = fbb.create_string(key);
                let value = fbb.create_string(value);
                let start = fbb.start_table();
                fbb.push_slot_always::<WIPOffset<_>>(ConfigEntry::KEY, key);
                fbb.push_slot_always::<WIPOffset<_>>(ConfigEntry::VALUE, value);
                fbb.end_table(start)
            })
            .collect();
        let configs = fbb.create_vector(&configs);
        let (high, low) = topic.id.as_u64_pair();
        let start = fbb.start_table();
        fbb.push_slot_always::<WIPOffset<_>>(TopicRecord::NAME, name);
        fbb.push_slot::<u64>(TopicRecord::ID_HIGH, high, 0);
        fbb.push_slot::<u64>(TopicRecord::ID_LOW, low, 0);
        fbb.push_slot_always::<WIPOffset<_>>(TopicRecord::PARTITIONS, partitions);
        fbb.push_slot_always::<WIPOffset<_>>(TopicRecord::CONFIGS, configs);
        topics.push(fbb.end_table(start));
    }
    let topics = fbb.create_vector(&topics);
    let cluster_id = fbb.create_string(&meta.cluster_id);
    // The registered brokers, then the SCRAM credentials, the ACLs and the client quotas, as
    // records.
    let broker_records: Vec<MetadataRecord> = meta
        .brokers
        .values()
        .cloned()
        .map(MetadataRecord::RegisterBroker)
        .chain(
            meta.scram_credentials
                .iter()
                .map(|((user, _), credential)| MetadataRecord::ScramCredential {
                    user: user.clone(),
                    credential: credential.clone(),
                }),
        )
        .chain(meta.acls.iter().cloned().map(MetadataRecord::Acl))
        .chain(meta.client_quotas.iter().flat_map(|(entity, values)| {
            values
                .iter()
                .map(|(kind, value)| MetadataRecord::ClientQuota {
                    entity: entity.clone(),
                    kind: *kind,
                    value: Some(*value),
                })
        }))
        .collect();
    let brokers = fbb.create_vector(&encode_records(&broker_records));
    let voters = fbb.create_vector(snapshot.voters);
    let start = fbb.start_table();
    fbb.push_slot_always::<WIPOffset<_>>(ClusterRecord::BROKERS, brokers);
    fbb.push_slot::<u64>(ClusterRecord::RAFT_INDEX, snapshot.index, 0);
    fbb.push_slot::<u64>(ClusterRecord::RAFT_TERM, snapshot.term, 0);
    fbb.push_slot_always::<WIPOffset<_>>(ClusterRecord::VOTERS, voters);
    fbb.push_slot::<u32>(ClusterRecord::FORMAT_VERSION, format_version, 0);
    fbb.push_slot_always::<WIPOffset<_>>(ClusterRecord::TOPICS, topics);
    fbb.push_slot::<i64>(ClusterRecord::NEXT_PRODUCER_ID, meta.next_producer_id, 0);
    fbb.push_slot_always::<WIPOffset<_>>(ClusterRecord::CLUSTER_ID, cluster_id);
    let root = fbb.end_table(start);
    fbb.finish(root, Some(FILE_IDENTIFIER));
    fbb.finished_data().to_vec()
}

pub fn decode_snapshot(bytes: &[u8]) -> Result<QuorumSnapshot, DecodeError> {
    let checked = verified_body(bytes)?;
    let bytes = checked.unwrap_or(bytes);
    // buffer_has_identifier asserts (panics) on buffers shorter than offset + identifier.
    if bytes.len() < 8 || !flatbuffers::buffer_has_identifier(bytes, FILE_IDENTIFIER, false) {
        return Err(DecodeError::NotMetadata);
    }
    let record = flatbuffers::root::<ClusterRecord>(bytes)?;
    let expected = if checked.is_some() {
        FORMAT_VERSION
    } else {
        FORMAT_VERSION_WITHOUT_CHECKSUM
    };
    if record.format_version() != expected {
        return Err(match (record.format_version(), checked) {
            (FORMAT_VERSION, None) => DecodeError::MissingChecksum,
            (version, _) => DecodeError::Version(version),
        });
    }
    let mut topics = BTreeMap::new();
    for topic in record.topics().iter().flatten() {
        let partitions = topic
            .partitions()
            .iter()
            .flatten()
            // Files of single-node Weir before the cluster shape have no leader or replicas:
            // NO_LEADER and empty lists here; the broker assigns them to itself on start.
            .map(|p| PartitionMeta {
                leader: p.leader(),
                replicas: p.broker_ids(PartitionRecord::REPLICAS),
                isr: p.broker_ids(PartitionRecord::ISR),
                leader_epoch: p.leader_epoch(),
                partition_epoch: p.partition_epoch(),
            })
            .collect();
        let pairs: Vec<(String, String)> = topic
            .configs()
            .iter()
            .flatten()
            .map(|c| (c.key().to_string(), c.value().to_string()))
            .collect();
        let configs = TopicConfigs::new(pairs).map_err(|e| DecodeError::Configs {
            topic: topic.name().to_string(),
            reason: e.to_string(),
        })?;
        let meta = TopicMeta {
            name: topic.name().to_string(),
            id: topic.id(),
            partitions,
            configs,
        };
        topics.insert(meta.name.clone(), meta);
    }
    let mut brokers = BTreeMap::new();
    let mut scram_credentials = BTreeMap::new();
    let mut acls = BTreeSet::new();
    let mut client_quotas = crate::security::quota::ClientQuotas::new();
    // Files written before brokers were registered have none.
    let broker_bytes = record.brokers();
    let broker_records = match broker_bytes.is_empty() {
        true => Vec::new(),
        false => decode_records(broker_bytes).map_err(DecodeError::Brokers)?,
    };
    for broker in broker_records {
        match broker {
            MetadataRecord::RegisterBroker(b) => {
                brokers.insert(b.id, b);
            }
            MetadataRecord::ScramCredential { user, credential } => {
                scram_credentials.insert((user, credential.mechanism), credential);
            }
            MetadataRecord::Acl(acl) => {
                acls.insert(acl);
            }
            MetadataRecord::ClientQuota {
                entity,
                kind,
                value,
            } => crate::security::quota::apply(&mut client_quotas, &entity, kind, value),
            other => return Err(DecodeError::NotABroker(format!("{other:?}"))),
        }
    }
    Ok(QuorumSnapshot {
        meta: ClusterMeta {
            topics,
            brokers,
            next_producer_id: record.next_producer_id(),
            cluster_id: record.cluster_id().to_string(),
            scram_credentials,
            acls,
            client_quotas,
        },
        index: record.u64_field(ClusterRecord::RAFT_INDEX),
        term: record.u64_field(ClusterRecord::RAFT_TERM),
        voters: record.voters(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ClusterMeta {
        let mut meta = ClusterMeta {
            next_producer_id: 4000,
            cluster_id: "q1Sh-9_ISia_hQ2QOr1QxA".into(),
            ..ClusterMeta::default()
        };
        for (name, count) in [("events", 3), ("audit.log", 1)] {
            meta.topics.insert(
                name.to_string(),
                TopicMeta {
                    name: name.to_string(),
                    id: Uuid::from_u64_pair(0x1234, count as u64),
                    partitions: (0..count)
                        .map(|p| PartitionMeta {
                            leader: p,
                            replicas: vec![p, 7, 9],
                            isr: vec![p, 9],
                            leader_epoch: p + 3,
                            partition_epoch: p * 2,
                        })
                        .collect(),
                    configs: TopicConfigs::new([("retention.ms".into(), "1000".into())]).unwrap(),
                },
            );
        }
        meta.brokers.insert(
            7,
            crate::metadata::BrokerMeta {
                id: 7,
                epoch: 40,
                incarnation: Uuid::from_u128(5),
                endpoints: vec![crate::metadata::Endpoint::plaintext("127.0.0.12", 9092)],
                rack: None,
                fenced: false,
                shutting_down: false,
            },
        );
        meta
    }

    fn snapshot_of(meta: &ClusterMeta) -> QuorumSnapshot {
        QuorumSnapshot {
            meta: meta.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn round_trips() {
        let meta = sample();
        assert_eq!(decode(&encode(&meta)).unwrap(), meta);
        let snapshot = QuorumSnapshot {
            meta: meta.clone(),
            index: 812,
            term: 4,
            voters: vec![1, 2, 3],
        };
        assert_eq!(
            decode_snapshot(&encode_snapshot(&snapshot)).unwrap(),
            snapshot
        );
        assert_eq!(
            decode(&encode(&ClusterMeta::default())).unwrap(),
            ClusterMeta::default()
        );
    }

    #[test]
    fn damage_is_an_error_not_a_crash() {
        let bytes = encode(&sample());
        assert!(matches!(decode(b"nope"), Err(DecodeError::NotMetadata)));
        assert!(decode(&bytes[..8]).is_err());
        assert!(decode(&bytes[..bytes.len() / 2]).is_err());
        for cut in 0..bytes.len() {
            let _ = decode(&bytes[..cut]);
        }
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x01;
            // With the checksum trailer every flipped bit is found, not only those that break
            // the flatbuffer's structure.
            assert!(
                decode(&damaged).is_err(),
                "a flipped bit at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn partitions_of_single_node_weir_load_without_leader_or_replicas() {
        let meta = sample();
        let old = flatbuffer_shaped(
            snapshot_of(&meta).view(),
            FORMAT_VERSION,
            PartitionShape::SingleNodeShard,
        );
        let mut old = old;
        let crc = crate::checksum::crc32c(&old);
        old.extend_from_slice(CHECKSUM_MAGIC);
        old.extend_from_slice(&crc.to_be_bytes());
        let loaded = decode(&old).unwrap();
        let events = &loaded.topics["events"];
        assert_eq!(events.partitions.len(), 3);
        for (index, partition) in events.partitions.iter().enumerate() {
            // The leader epoch survives; leader and replicas are for the broker to fill in.
            assert_eq!(partition.leader_epoch, index as i32 + 3);
            assert_eq!(partition.leader, NO_LEADER);
            assert!(partition.replicas.is_empty() && partition.isr.is_empty());
        }
    }

    #[test]
    fn version_1_files_without_the_checksum_trailer_still_load() {
        let meta = sample();
        let mut fbb_bytes = encode(&meta);
        fbb_bytes.truncate(fbb_bytes.len() - TRAILER_BYTES);
        // A version 2 body without its trailer is damage...
        assert!(matches!(
            decode(&fbb_bytes),
            Err(DecodeError::MissingChecksum)
        ));
        // ...while a version 1 file (as older Weir wrote) has none to check.
        let version_1 = flatbuffer(snapshot_of(&meta).view(), FORMAT_VERSION_WITHOUT_CHECKSUM);
        assert_eq!(decode(&version_1).unwrap(), meta);
    }
}
