//! ListOffsets (2), v1+: earliest (-2), latest (-1), max timestamp (-3, KIP-734) and by
//! timestamp, each on the partition's owner shard.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{start_per_partition, RequestContext};
use crate::error_code::ErrorCode;
use crate::shard::ops::{ShardOp, ShardReply};

pub async fn handle(ctx: &RequestContext<'_>, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let pending = start_per_partition(
        ctx.shard,
        request.topics.into_iter().map(|t| (t.name, t.partitions)),
        |p| p.partition_index,
        |shard, tp, p| async move {
            let op = ShardOp::OffsetForTimestamp {
                tp,
                timestamp_ms: p.timestamp,
            };
            match shard.call_owner(op).await? {
                ShardReply::OffsetForTimestamp(result) => result,
                _ => Err(ErrorCode::UnknownServerError),
            }
        },
    );
    let meta = ctx.shard.meta();
    let mut topics = Vec::with_capacity(pending.len());
    for (name, tasks) in pending {
        let mut partitions = Vec::with_capacity(tasks.len());
        for (index, task) in tasks {
            // leader_epoch exists from v4 on; -1 is its "not given" value before that.
            let leader_epoch = if ctx.api_version < 4 {
                -1
            } else {
                meta.topics
                    .get(name.0.as_str())
                    .and_then(|t| t.partition(index))
                    .map_or(-1, |m| m.leader_epoch)
            };
            let response = ListOffsetsPartitionResponse::default().with_partition_index(index);
            partitions.push(match task.await {
                Ok(Some(found)) => response
                    .with_timestamp(found.timestamp_ms)
                    .with_offset(found.offset)
                    .with_leader_epoch(leader_epoch),
                // No record at or after the timestamp: Kafka answers -1/-1 without an error.
                Ok(None) => response
                    .with_timestamp(-1)
                    .with_offset(-1)
                    .with_leader_epoch(-1),
                Err(code) => response
                    .with_error_code(code.code())
                    .with_timestamp(-1)
                    .with_offset(-1)
                    .with_leader_epoch(-1),
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
