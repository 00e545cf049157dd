//! Consumer groups: the coordinator of each group lives on the shard that owns the group's
//! `__consumer_offsets` partition (Kafka's `abs(groupId.hashCode) % partitions`), so committing
//! an offset is a local append on that shard.

pub mod coordinator;
pub mod groups;
pub mod store;

use std::rc::Rc;

use crate::error_code::ErrorCode;
use crate::log::PartitionLog;
use crate::metadata::ClusterMeta;
use crate::record::{BatchBuilder, NewRecord};
pub use coordinator::{GroupConfig, GroupCoordinator};
use store::{CommittedOffset, OffsetKey, OFFSETS_TOPIC};

/// Java's `String.hashCode`, so that groups map to the same `__consumer_offsets` partition as
/// on a Kafka broker with the same partition count.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition of `group`.
pub fn offsets_partition(group: &str, partitions: usize) -> i32 {
    // Kafka's Utils.abs: Math.abs, except that Integer.MIN_VALUE maps to 0.
    let hash = java_hash(group);
    let abs = if hash == i32::MIN {
        0
    } else {
        hash.unsigned_abs() as usize
    };
    (abs % partitions.max(1)) as i32
}

/// The `__consumer_offsets` partition whose leader coordinates `group` (Kafka's
/// `partitionFor`), or `None` before the offsets topic exists.
pub fn coordinator_partition(meta: &ClusterMeta, group: &str) -> Option<i32> {
    let topic = meta.topics.get(OFFSETS_TOPIC)?;
    Some(offsets_partition(group, topic.partitions.len()))
}

/// One partition's offset to commit.
pub struct OffsetToCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// Writes offsets (or tombstones, `None`) of `group` to its `__consumer_offsets` partition and
/// waits until they are durable per the flush policy.
pub async fn write_offsets(
    log: &Rc<PartitionLog>,
    group: &str,
    offsets: &[((String, i32), Option<CommittedOffset>)],
) -> Result<(), ErrorCode> {
    write_records(log, group, &offset_records(group, offsets)).await
}

/// `__consumer_offsets` records (key, value or tombstone) of `group`'s offsets.
fn offset_records(
    group: &str,
    offsets: &[((String, i32), Option<CommittedOffset>)],
) -> Vec<(bytes::Bytes, Option<bytes::Bytes>)> {
    offsets
        .iter()
        .map(|((topic, partition), value)| {
            let key = store::encode_key(&OffsetKey {
                group: group.to_string(),
                topic: topic.clone(),
                partition: *partition,
            });
            (key, value.as_ref().map(store::encode_value))
        })
        .collect()
}

/// Writes a group's metadata record (`None`: the group is deleted).
pub async fn write_group(
    log: &Rc<PartitionLog>,
    group: &str,
    record: Option<&store::GroupRecord>,
) -> Result<(), ErrorCode> {
    let records = [(
        store::encode_group_key(group),
        record.map(store::encode_group_value),
    )];
    write_records(log, group, &records).await
}

/// Writes offsets committed inside producer `producer_id`'s transaction (TxnOffsetCommit): a
/// transactional batch under the producer's id and epoch, which its commit or abort marker
/// on this partition later settles.
pub async fn write_txn_offsets(
    log: &Rc<PartitionLog>,
    group: &str,
    producer_id: i64,
    producer_epoch: i16,
    offsets: &[((String, i32), Option<CommittedOffset>)],
) -> Result<(), ErrorCode> {
    let records = offset_records(group, offsets);
    write_batch(log, group, &records, Some((producer_id, producer_epoch))).await
}

async fn write_records(
    log: &Rc<PartitionLog>,
    group: &str,
    records: &[(bytes::Bytes, Option<bytes::Bytes>)],
) -> Result<(), ErrorCode> {
    write_batch(log, group, records, None).await
}

/// Appends `records` as one batch, transactional under (producer id, epoch) when given.
async fn write_batch(
    log: &Rc<PartitionLog>,
    group: &str,
    records: &[(bytes::Bytes, Option<bytes::Bytes>)],
    transaction: Option<(i64, i16)>,
) -> Result<(), ErrorCode> {
    if records.is_empty() {
        return Ok(());
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut builder = BatchBuilder::new();
    for (key, value) in records {
        builder.push(NewRecord {
            key: Some(key),
            value: value.as_deref(),
            timestamp_ms: now_ms,
        });
    }
    if let Some((producer_id, producer_epoch)) = transaction {
        // Kafka's coordinator writes transactional offset commits from sequence 0.
        builder
            .producer(producer_id, producer_epoch, 0)
            .flags(crate::record::TRANSACTIONAL_FLAG);
    }
    log.append_for_coordinator(builder.build(), OFFSETS_COMMIT_TIMEOUT, group)
        .await
        .map(|_| ())
}

/// Kafka's `offsets.commit.timeout.ms`.
const OFFSETS_COMMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Replays a `__consumer_offsets` partition into its coordinator (when this broker becomes
/// its leader, at start or later).
pub async fn load_offsets(coordinator: &GroupCoordinator, log: &Rc<PartitionLog>) -> usize {
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    let mut loaded = 0;
    while offset < end {
        let read = match log.read(offset, 1 << 20).await {
            Ok(read) => read,
            Err(e) => {
                tracing::error!(error = %e, "cannot read __consumer_offsets; offsets from here on are not loaded");
                break;
            }
        };
        let Ok(batches) = read.batches() else {
            tracing::error!("unreadable batch in __consumer_offsets");
            break;
        };
        if batches.is_empty() {
            break;
        }
        for batch in &batches {
            offset = batch.last_offset() + 1;
            // A transaction's marker settles the offsets its producer committed in it.
            if batch.attributes().is_control() {
                if let Some(marker) = crate::record::TxnMarker::from_batch(batch) {
                    coordinator.complete_txn(marker.producer_id, marker.commit);
                }
                continue;
            }
            let transactional = batch
                .attributes()
                .is_transactional()
                .then(|| batch.producer_id());
            let Some(records) = batch.record_views() else {
                continue;
            };
            for record in records {
                match record.key.and_then(store::decode_key) {
                    Some(store::RecordKey::Offset(key)) => {
                        let value = record.value.and_then(store::decode_value);
                        let offsets = vec![((key.topic, key.partition), value)];
                        match transactional {
                            Some(producer_id) => {
                                coordinator.stage_txn_offsets(producer_id, &key.group, offsets)
                            }
                            None => coordinator.apply_offsets(&key.group, offsets),
                        }
                    }
                    Some(store::RecordKey::Group(group)) => {
                        let value = record.value.and_then(store::decode_group_value);
                        coordinator.restore_group(&group, value);
                    }
                    None => continue,
                }
                loaded += 1;
            }
        }
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_map_to_partitions_like_kafka() {
        // Java: "my-group".hashCode() == -1906497762; Utils.abs(...) % 50 == 12.
        assert_eq!(java_hash("my-group"), -1_906_497_762);
        assert_eq!(offsets_partition("my-group", 50), 12);
        assert_eq!(offsets_partition("", 50), 0);
    }
}
