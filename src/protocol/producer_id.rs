//! InitProducerId (22): a fresh producer id (epoch 0) from the controller's persisted counter,
//! so that idempotent producers (librdkafka `enable.idempotence`, the Java client's default) can
//! start, or the next epoch of a producer's own id (KIP-360). With a transactional id, the
//! id's transaction coordinator answers (see `txn`).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::shard::controller::{ControllerOp, ControllerReply};
use crate::shard::ops::{ShardOp, ShardReply};

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let refused = |code: ErrorCode| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if let Some(transactional_id) = request
        .transactional_id
        .as_ref()
        .map(|t| t.0.as_str().to_string())
    {
        if !ctx.may(
            AclOperation::Write,
            ResourceType::TransactionalId,
            &transactional_id,
        ) {
            return refused(ErrorCode::TransactionalIdAuthorizationFailed);
        }
        return match super::txn::init_producer_id(ctx, &request, &transactional_id).await {
            Ok((producer_id, epoch)) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(epoch),
            Err(code) => {
                tracing::debug!(peer = %ctx.peer, %transactional_id, error = %code, "transactional InitProducerId refused");
                refused(code)
            }
        };
    }
    // An idempotent producer needs IDEMPOTENT_WRITE on the cluster or, since KIP-679, WRITE on
    // some topic.
    if !ctx.can(
        AclOperation::IdempotentWrite,
        ResourceType::Cluster,
        CLUSTER_NAME,
    ) && !ctx.may_any(AclOperation::Write, ResourceType::Topic)
    {
        tracing::info!(peer = %ctx.peer, principal = ctx.principal, "InitProducerId refused: neither IDEMPOTENT_WRITE on the cluster nor WRITE on any topic");
        return refused(ErrorCode::ClusterAuthorizationFailed);
    }
    // KIP-360 (v3+): a producer that names its current id and epoch gets the next epoch of
    // the same id, which fences its older epoch on every partition; at the last epoch it gets a
    // new id instead.
    let (current_id, current_epoch) = (request.producer_id.0, request.producer_epoch);
    if ctx.api_version >= 3 && current_id >= 0 && (0..i16::MAX - 1).contains(&current_epoch) {
        return InitProducerIdResponse::default()
            .with_producer_id(ProducerId(current_id))
            .with_producer_epoch(current_epoch + 1);
    }
    match ctx
        .shard
        .call(0, ShardOp::Controller(ControllerOp::AllocateProducerId))
        .await
    {
        Ok(ShardReply::Controller(ControllerReply::ProducerId(Ok(id)))) => {
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0)
        }
        Ok(ShardReply::Controller(ControllerReply::ProducerId(Err(code)))) => refused(code),
        _ => refused(ErrorCode::UnknownServerError),
    }
}
