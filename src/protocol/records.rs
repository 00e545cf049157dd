//! DeleteRecords (21): moves partitions' log start offsets forward on their owner shards;
//! fetches below the new start get OFFSET_OUT_OF_RANGE.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{start_per_partition, RequestContext};
use crate::error_code::ErrorCode;
use crate::metadata::is_internal_topic;
use crate::security::acl::AclOperation;
use crate::shard::ops::{ShardOp, ShardReply};

pub async fn delete_records(
    ctx: &RequestContext<'_>,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let peer = ctx.peer;
    // DELETE on each topic (Kafka's rule).
    let checked = ctx.topic_refusals(
        request.topics.into_iter().map(|t| (t.name, t.partitions)),
        AclOperation::Delete,
    );
    let pending = start_per_partition(
        ctx.shard,
        checked,
        |(p, _)| p.partition_index,
        |shard, tp, (p, refused)| async move {
            let partition = tp.to_string();
            let result = if let Some(code) = refused {
                Err(code)
            } else if is_internal_topic(&tp.topic) {
                Err(ErrorCode::InvalidRequest)
            } else {
                match shard
                    .call_owner(ShardOp::DeleteRecords {
                        tp,
                        offset: p.offset,
                    })
                    .await
                {
                    Ok(ShardReply::RecordsDeleted(result)) => result,
                    Ok(_) => Err(ErrorCode::UnknownServerError),
                    Err(code) => Err(code),
                }
            };
            match result {
                Ok(low_watermark) => {
                    tracing::info!(%peer, %partition, low_watermark, "DeleteRecords")
                }
                Err(code) => {
                    tracing::info!(%peer, %partition, offset = p.offset, error = %code, "DeleteRecords refused")
                }
            }
            result
        },
    );
    let mut topics = Vec::with_capacity(pending.len());
    for (name, tasks) in pending {
        let mut partitions = Vec::with_capacity(tasks.len());
        for (index, task) in tasks {
            let result = DeleteRecordsPartitionResult::default().with_partition_index(index);
            partitions.push(match task.await {
                Ok(low_watermark) => result.with_low_watermark(low_watermark),
                Err(code) => result.with_low_watermark(-1).with_error_code(code.code()),
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
