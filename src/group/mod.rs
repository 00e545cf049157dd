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
    let records: Vec<_> = offsets
        .iter()
        .map(|((topic, partition), value)| {
            let key = store::encode_key(&OffsetKey {
                group: group.to_string(),
                topic: topic.clone(),
                partition: *partition,
            });
            (key, value.as_ref().map(store::encode_value))
        })
        .collect();
    write_records(log, group, &records).await
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

async fn write_records(
    log: &Rc<PartitionLog>,
    group: &str,
    records: &[(bytes::Bytes, Option<bytes::Bytes>)],
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
    let info = log.append(builder.build()).map_err(|e| {
        tracing::error!(%group, error = %e, "cannot append to __consumer_offsets");
        ErrorCode::CoordinatorNotAvailable
    })?;
    log.wait_for(info.last_offset + 1, log.ack_durability())
        .await
        .map_err(|e| {
            tracing::error!(%group, error = %e, "offsets not made durable");
            ErrorCode::CoordinatorNotAvailable
        })?;
    // As Kafka commits offsets with acks=all (`offsets.commit.required.acks`): a commit is
    // answered once every in-sync replica of the partition has it, so it survives the
    // coordinator's broker (bounded by Kafka's `offsets.commit.timeout.ms`, 5 s).
    let replicated = glommio::timer::timeout(OFFSETS_COMMIT_TIMEOUT, async {
        Ok(log.wait_for_high_watermark(info.last_offset + 1).await)
    })
    .await;
    match replicated {
        Ok(Ok(())) => Ok(()),
        Ok(Err(code)) => Err(match code {
            // The coordinator moved with the partition's leadership.
            ErrorCode::NotLeaderOrFollower => ErrorCode::NotCoordinator,
            _ => ErrorCode::CoordinatorNotAvailable,
        }),
        Err(_) => {
            tracing::warn!(%group, "offsets not replicated within offsets.commit.timeout.ms");
            Err(ErrorCode::RequestTimedOut)
        }
    }
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
            let Some(records) = batch.record_views() else {
                continue;
            };
            for record in records {
                match record.key.and_then(store::decode_key) {
                    Some(store::RecordKey::Offset(key)) => {
                        let value = record.value.and_then(store::decode_value);
                        coordinator
                            .apply_offsets(&key.group, vec![((key.topic, key.partition), value)]);
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
