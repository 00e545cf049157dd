//! InitProducerId (22): a fresh producer id (epoch 0) from the controller's persisted counter,
//! so that idempotent producers (librdkafka `enable.idempotence`, the Java client's default) can
//! start. Sequence checks and transactions come with the idempotence issue; a transactional id
//! is refused until then.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;
use crate::error_code::ErrorCode;
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
    if request.transactional_id.is_some() {
        tracing::info!(peer = %ctx.peer, "InitProducerId with a transactional id: transactions are not supported");
        return refused(ErrorCode::InvalidRequest);
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
