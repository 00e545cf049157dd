//! The offset lookups, each on the partition's owner shard:
//! - ListOffsets (2), v1+: earliest (-2), latest (-1), max timestamp (-3, KIP-734) and by
//!   timestamp, with the leader epoch of the offset found (v4+).
//! - OffsetForLeaderEpoch (23), v0-v4: where a leader epoch ended in the leader's log, which a
//!   consumer uses to detect that its position was truncated away after an unclean leader
//!   change (KIP-320), and a replica to find where its log diverges (KIP-101, KIP-279).
//!
//! Both check the partition's leader epoch the client names (`current_leader_epoch`, KIP-320):
//! FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH when it is not this broker's.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
};

use super::{start_per_partition, RequestContext};
use crate::error_code::ErrorCode;
use crate::log::NO_EPOCH;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::shard::ops::{ShardOp, ShardReply};

pub async fn handle(ctx: &RequestContext<'_>, request: ListOffsetsRequest) -> ListOffsetsResponse {
    // current_leader_epoch exists from v4 on (the crate decodes -1 before); isolation_level
    // from v2 (0 before: READ_UNCOMMITTED).
    let read_committed = request.isolation_level == 1;
    let checked = ctx.topic_refusals(
        request.topics.into_iter().map(|t| (t.name, t.partitions)),
        AclOperation::Describe,
    );
    let pending = start_per_partition(
        ctx.shard,
        checked,
        |(p, _)| p.partition_index,
        |shard, tp, (p, refused)| async move {
            if let Some(code) = refused {
                return Err(code);
            }
            let op = ShardOp::OffsetForTimestamp {
                tp,
                timestamp_ms: p.timestamp,
                current_leader_epoch: p.current_leader_epoch,
                read_committed,
            };
            match shard.call_owner(op).await? {
                ShardReply::OffsetForTimestamp(result) => result,
                _ => Err(ErrorCode::UnknownServerError),
            }
        },
    );
    let mut topics = Vec::with_capacity(pending.len());
    for (name, tasks) in pending {
        let mut partitions = Vec::with_capacity(tasks.len());
        for (index, task) in tasks {
            let response = ListOffsetsPartitionResponse::default().with_partition_index(index);
            partitions.push(match task.await {
                // leader_epoch exists from v4 on; -1 is its "not given" value before that.
                Ok(Some(found)) => response
                    .with_timestamp(found.timestamp_ms)
                    .with_offset(found.offset)
                    .with_leader_epoch(if ctx.api_version < 4 {
                        NO_EPOCH
                    } else {
                        found.leader_epoch
                    }),
                // No record at or after the timestamp: Kafka answers -1/-1 without an error.
                Ok(None) => response
                    .with_timestamp(-1)
                    .with_offset(-1)
                    .with_leader_epoch(NO_EPOCH),
                Err(code) => response
                    .with_error_code(code.code())
                    .with_timestamp(-1)
                    .with_offset(-1)
                    .with_leader_epoch(NO_EPOCH),
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

pub async fn offset_for_leader_epoch(
    ctx: &RequestContext<'_>,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // Versions before 2 carry no current_leader_epoch (the crate decodes -1: no check).
    // A follower's request (v3+ replica_id >= 0) needs CLUSTER_ACTION, a consumer's DESCRIBE
    // on each topic (Kafka's rules).
    let topics = request.topics.into_iter().map(|t| (t.topic, t.partitions));
    let checked = if request.replica_id.0 >= 0 {
        let refused = ctx.denied(
            AclOperation::ClusterAction,
            ResourceType::Cluster,
            CLUSTER_NAME,
        );
        ctx.refusals(topics, |_| refused)
    } else {
        ctx.topic_refusals(topics, AclOperation::Describe)
    };
    let pending = start_per_partition(
        ctx.shard,
        checked,
        |(p, _)| p.partition,
        |shard, tp, (p, refused)| async move {
            if let Some(code) = refused {
                return Err(code);
            }
            let op = ShardOp::EndOffsetForEpoch {
                tp,
                current_leader_epoch: p.current_leader_epoch,
                leader_epoch: p.leader_epoch,
            };
            match shard.call_owner(op).await? {
                ShardReply::EndOffsetForEpoch(result) => result,
                _ => Err(ErrorCode::UnknownServerError),
            }
        },
    );
    let mut topics = Vec::with_capacity(pending.len());
    for (topic, tasks) in pending {
        let mut partitions = Vec::with_capacity(tasks.len());
        for (index, task) in tasks {
            let answer = EpochEndOffset::default().with_partition(index);
            partitions.push(match task.await {
                Ok((epoch, end_offset)) => answer
                    .with_leader_epoch(epoch)
                    .with_end_offset(end_offset),
                Err(code) => {
                    tracing::debug!(peer = %ctx.peer, topic = %topic.0, partition = index, error = %code, "OffsetForLeaderEpoch refused");
                    answer
                        .with_error_code(code.code())
                        .with_leader_epoch(NO_EPOCH)
                        .with_end_offset(-1)
                }
            });
        }
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(topic)
                .with_partitions(partitions),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
