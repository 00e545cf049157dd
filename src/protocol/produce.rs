//! Produce (0), v3+: each partition's records go, still as the `Bytes` cut from the request
//! frame, to the shard that owns the partition; partitions are appended in parallel and the
//! response lists them in request order. acks=0 gets no response (Kafka's contract).

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::{start_per_partition, RequestContext};
use crate::error_code::ErrorCode;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::quota::QuotaKind;
use crate::shard::ops::{ShardOp, ShardReply};

pub async fn handle(ctx: &RequestContext<'_>, request: ProduceRequest) -> Option<ProduceResponse> {
    let acks = request.acks;
    let timeout = std::time::Duration::from_millis(request.timeout_ms.max(0) as u64);
    let acks_valid = matches!(acks, -1..=1);
    if !acks_valid {
        tracing::info!(peer = %ctx.peer, acks, "produce with invalid acks");
    }
    // Authorization, as Kafka's: a transactional produce needs WRITE on its transactional
    // id (else every partition fails), each topic WRITE on the topic.
    let transaction_refused = request.transactional_id.as_ref().and_then(|id| {
        ctx.denied(
            AclOperation::Write,
            ResourceType::TransactionalId,
            id.0.as_str(),
        )
    });
    // Start every partition's append before awaiting any.
    let peer = ctx.peer;
    let checked = ctx.refusals(
        request
            .topic_data
            .into_iter()
            .map(|t| (t.name, t.partition_data)),
        |topic| {
            transaction_refused
                .or_else(|| ctx.denied(AclOperation::Write, ResourceType::Topic, topic))
        },
    );
    let topics = start_per_partition(
        ctx.shard,
        checked,
        |(data, _)| data.index,
        move |shard, tp, (data, refused)| async move {
            if let Some(code) = refused {
                return Err(code.into());
            }
            if !acks_valid {
                return Err(ErrorCode::InvalidRequiredAcks.into());
            }
            if crate::metadata::is_internal_topic(&tp.topic) {
                // Only the group coordinator writes Kafka's internal topic.
                tracing::info!(%peer, "produce to the internal topic refused");
                return Err(ErrorCode::InvalidTopicException.into());
            }
            let Some(records) = data.records else {
                tracing::info!(%peer, partition = %tp, "produce with null records");
                return Err(ErrorCode::CorruptMessage.into());
            };
            let op = ShardOp::Produce {
                tp,
                records,
                acks,
                timeout,
                peer,
            };
            match shard.call_owner(op).await? {
                ShardReply::Produced(result) => result,
                _ => Err(ErrorCode::UnknownServerError.into()),
            }
        },
    );

    let mut responses = Vec::with_capacity(topics.len());
    for (name, partitions) in topics {
        let mut partition_responses = Vec::with_capacity(partitions.len());
        for (index, task) in partitions {
            let response = PartitionProduceResponse::default().with_index(index);
            partition_responses.push(match task.await {
                Ok(info) => response
                    .with_base_offset(info.base_offset)
                    .with_log_append_time_ms(info.log_append_time_ms)
                    .with_log_start_offset(info.log_start_offset),
                // Produce v8+ carries the message and the records at fault (KIP-467); the
                // encoder leaves them out of older versions.
                Err(error) => response
                    .with_error_code(error.code.code())
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1)
                    .with_error_message(error.message.map(StrBytes::from_string))
                    .with_record_errors(
                        error
                            .record_errors
                            .into_iter()
                            .map(|(index, message)| {
                                BatchIndexAndErrorMessage::default()
                                    .with_batch_index(index)
                                    .with_batch_index_error_message(Some(StrBytes::from_string(
                                        message,
                                    )))
                            })
                            .collect(),
                    ),
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_partition_responses(partition_responses),
        );
    }
    // Kafka's produce quota counts the request's size, once the appends are done.
    let throttle_ms = match ctx.quota(QuotaKind::Produce) {
        Some(quota) => quota.record(ctx, ctx.request_bytes).await,
        None => 0,
    };
    (acks != 0).then(|| {
        ProduceResponse::default()
            .with_responses(responses)
            .with_throttle_time_ms(throttle_ms)
    })
}
