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

use super::admin::{ask_controller, config_entry};
use super::authorize::AUTHORIZATION_FAILED;
use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::shard::controller::{ConfigChange, ControllerOp, Refusal};

const RESOURCE_TOPIC: i8 = 2;

/// Applies one topic's change through the controller: the resource's error code and message.
async fn alter_topic(
    ctx: &RequestContext<'_>,
    resource_type: i8,
    name: &str,
    change: ConfigChange,
    validate_only: bool,
) -> (i16, Option<StrBytes>) {
    // ALTER_CONFIGS on the topic (a broker's: on the cluster, refused below anyway).
    let refused = match resource_type {
        RESOURCE_TOPIC => ctx.denied(AclOperation::AlterConfigs, ResourceType::Topic, name),
        _ => ctx.denied(
            AclOperation::AlterConfigs,
            ResourceType::Cluster,
            CLUSTER_NAME,
        ),
    };
    let result = if let Some(code) = refused {
        Err(Refusal {
            code,
            message: AUTHORIZATION_FAILED.into(),
        })
    } else if resource_type != RESOURCE_TOPIC {
        Err(Refusal {
            code: ErrorCode::InvalidRequest,
            message:
                "only topic configs can be altered; broker configs come from server.properties"
                    .into(),
        })
    } else {
        let op = ControllerOp::AlterTopicConfigs {
            topic: name.to_string(),
            change,
            validate_only,
        };
        ask_controller(ctx.shard, op)
            .await
            .and_then(|mut outcomes| match outcomes.pop() {
                Some(outcome) => outcome.result.map(|_| ()),
                None => Err(Refusal {
                    code: ErrorCode::UnknownServerError,
                    message: "the controller shard did not answer".into(),
                }),
            })
    };
    match result {
        Ok(()) => {
            tracing::info!(peer = %ctx.peer, topic = name, validate_only, "topic configs altered");
            (0, None)
        }
        Err(r) => {
            tracing::info!(peer = %ctx.peer, topic = name, error = %r.code, reason = %r.message, "AlterConfigs refused");
            (r.code.code(), Some(StrBytes::from_string(r.message)))
        }
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
                .iter()
                .map(|c| config_entry(&c.name, c.value.as_ref()))
                .collect(),
        );
        let name = resource.resource_name.as_str().to_string();
        let (code, message) = alter_topic(
            ctx,
            resource.resource_type,
            &name,
            change,
            request.validate_only,
        )
        .await;
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
                .iter()
                .map(|c| {
                    let (name, value) = config_entry(&c.name, c.value.as_ref());
                    (name, c.config_operation, value)
                })
                .collect(),
        );
        let name = resource.resource_name.as_str().to_string();
        let (code, message) = alter_topic(
            ctx,
            resource.resource_type,
            &name,
            change,
            request.validate_only,
        )
        .await;
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
