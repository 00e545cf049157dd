//! AlterConfigs (33) and IncrementalAlterConfigs (44) for topics: validated, persisted by the
//! controller and applied to the live logs. Broker configs are static (server.properties) and
//! refused here.

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResourceResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::shard::controller::{ConfigChange, ControllerOp, ControllerReply, Refusal};
use crate::shard::ops::{ShardOp, ShardReply};

const RESOURCE_TOPIC: i8 = 2;

/// Applies one topic's change through the controller; `Err` carries the Kafka error.
async fn alter_topic(
    ctx: &RequestContext<'_>,
    resource_type: i8,
    name: &str,
    change: ConfigChange,
    validate_only: bool,
) -> Result<(), Refusal> {
    if resource_type != RESOURCE_TOPIC {
        return Err(Refusal {
            code: ErrorCode::InvalidRequest,
            message:
                "only topic configs can be altered; broker configs come from server.properties"
                    .into(),
        });
    }
    let op = ControllerOp::AlterTopicConfigs {
        topic: name.to_string(),
        change,
        validate_only,
    };
    let result = match ctx.shard.call(0, ShardOp::Controller(op)).await {
        Ok(ShardReply::Controller(ControllerReply::Topics(mut outcomes)))
            if outcomes.len() == 1 =>
        {
            outcomes.remove(0).result.map(|_| ())
        }
        _ => Err(Refusal {
            code: ErrorCode::UnknownServerError,
            message: "the controller shard did not answer".into(),
        }),
    };
    match &result {
        Ok(()) => {
            tracing::info!(peer = %ctx.peer, topic = name, validate_only, "topic configs altered")
        }
        Err(r) => {
            tracing::info!(peer = %ctx.peer, topic = name, error = %r.code, reason = %r.message, "AlterConfigs refused")
        }
    }
    result
}

fn error_fields(result: Result<(), Refusal>) -> (i16, Option<StrBytes>) {
    match result {
        Ok(()) => (0, None),
        Err(r) => (r.code.code(), Some(StrBytes::from_string(r.message))),
    }
}

pub async fn alter_configs(
    ctx: &RequestContext<'_>,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let change = ConfigChange::Replace(
            resource
                .configs
                .into_iter()
                .map(|c| {
                    (
                        c.name.as_str().to_string(),
                        c.value.map(|v| v.as_str().to_string()),
                    )
                })
                .collect(),
        );
        let name = resource.resource_name.as_str().to_string();
        let result = alter_topic(
            ctx,
            resource.resource_type,
            &name,
            change,
            request.validate_only,
        )
        .await;
        let (code, message) = error_fields(result);
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

pub async fn incremental_alter_configs(
    ctx: &RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let change = ConfigChange::Incremental(
            resource
                .configs
                .into_iter()
                .map(|c| {
                    (
                        c.name.as_str().to_string(),
                        c.config_operation,
                        c.value.map(|v| v.as_str().to_string()),
                    )
                })
                .collect(),
        );
        let name = resource.resource_name.as_str().to_string();
        let result = alter_topic(
            ctx,
            resource.resource_type,
            &name,
            change,
            request.validate_only,
        )
        .await;
        let (code, message) = error_fields(result);
        responses.push(
            IncrementalResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
