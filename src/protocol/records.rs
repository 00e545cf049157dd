//! DeleteRecords (21): moves partitions' log start offsets forward on their owner shards;
//! fetches below the new start get OFFSET_OUT_OF_RANGE.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::shard::ops::{ShardOp, ShardReply, TopicPartition};

pub async fn delete_records(
    ctx: &RequestContext<'_>,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
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
                let internal = tp.topic == crate::group::store::OFFSETS_TOPIC;
                let offset = p.offset;
                let task = glommio::spawn_local(async move {
                    if internal {
                        return Err(ErrorCode::InvalidRequest);
                    }
                    match shard
                        .call_owner(ShardOp::DeleteRecords { tp, offset })
                        .await?
                    {
                        ShardReply::RecordsDeleted(result) => result,
                        _ => Err(ErrorCode::UnknownServerError),
                    }
                });
                (p.partition_index, offset, task)
            })
            .collect();
        pending.push((topic.name, tasks));
    }
    let mut topics = Vec::with_capacity(pending.len());
    for (name, tasks) in pending {
        let mut partitions = Vec::with_capacity(tasks.len());
        for (index, offset, task) in tasks {
            let result = DeleteRecordsPartitionResult::default().with_partition_index(index);
            partitions.push(match task.await {
                Ok(low_watermark) => {
                    tracing::info!(peer = %ctx.peer, topic = %name.0.as_str(), partition = index, low_watermark, "DeleteRecords");
                    result.with_low_watermark(low_watermark)
                }
                Err(code) => {
                    tracing::info!(peer = %ctx.peer, topic = %name.0.as_str(), partition = index, offset, error = %code, "DeleteRecords refused");
                    result.with_low_watermark(-1).with_error_code(code.code())
                }
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
