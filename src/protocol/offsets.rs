//! ListOffsets (2), v1+: earliest (-2), latest (-1), max timestamp (-3, KIP-734) and by
//! timestamp, each on the partition's owner shard.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::shard::ops::{ShardOp, ShardReply, TopicPartition};

pub async fn handle(ctx: &RequestContext<'_>, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let version = ctx.api_version;
    let mut pending = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.as_str().to_string();
        let tasks: Vec<_> = topic
            .partitions
            .into_iter()
            .map(|p| {
                let shard = ctx.shard.clone();
                let tp = TopicPartition {
                    topic: name.clone(),
                    partition: p.partition_index,
                };
                // leader_epoch exists from v4 on; -1 is its "not given" value before that.
                let leader_epoch = if version < 4 {
                    -1
                } else {
                    shard
                        .meta()
                        .topics
                        .get(&tp.topic)
                        .and_then(|t| t.partition(tp.partition))
                        .map_or(-1, |m| m.leader_epoch)
                };
                let index = p.partition_index;
                let timestamp_ms = p.timestamp;
                let task = glommio::spawn_local(async move {
                    let op = ShardOp::OffsetForTimestamp { tp, timestamp_ms };
                    match shard.call_owner(op).await? {
                        ShardReply::OffsetForTimestamp(result) => result,
                        _ => Err(ErrorCode::UnknownServerError),
                    }
                });
                (index, leader_epoch, task)
            })
            .collect();
        pending.push((topic.name, tasks));
    }
    let mut topics = Vec::with_capacity(pending.len());
    for (name, tasks) in pending {
        let mut partitions = Vec::with_capacity(tasks.len());
        for (index, leader_epoch, task) in tasks {
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
