//! DescribeConfigs (32) for topics and this broker, DescribeCluster (60).

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeConfigsRequest,
    DescribeConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::authorize::AUTHORIZATION_FAILED;
use super::RequestContext;
use crate::config::DescribedConfig;
use crate::error_code::ErrorCode;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};

/// Kafka's ConfigResource.Type values.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// What the request asked to see besides names and values.
struct Detail {
    /// v1+ `include_synonyms`.
    synonyms: bool,
    /// v3+ `include_documentation` (types are sent from v3 on regardless, as Kafka does).
    documentation: bool,
    types: bool,
}

pub fn describe_configs(
    ctx: &RequestContext<'_>,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let config = &ctx.shard.config;
    let meta = ctx.shard.meta();
    let detail = Detail {
        synonyms: request.include_synonyms,
        documentation: request.include_documentation,
        types: ctx.api_version >= 3,
    };
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let name = resource.resource_name.as_str().to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            // Broker configs are static (server.properties): read-only, as Kafka marks them.
            // DESCRIBE_CONFIGS on the topic, or on the cluster for a broker (Kafka's rule).
            let refused = match resource.resource_type {
                RESOURCE_TOPIC => ctx.denied(AclOperation::DescribeConfigs, ResourceType::Topic, &name),
                RESOURCE_BROKER => {
                    ctx.denied(AclOperation::DescribeConfigs, ResourceType::Cluster, CLUSTER_NAME)
                }
                _ => None,
            };
            let described: Result<(Vec<DescribedConfig>, bool), (ErrorCode, String)> =
                match (refused, resource.resource_type) {
                    (Some(code), _) => Err((code, AUTHORIZATION_FAILED.to_string())),
                    (None, RESOURCE_TOPIC) => match meta.topics.get(&name) {
                        Some(topic) => Ok((config.describe_topic(&topic.configs), false)),
                        None => Err((
                            ErrorCode::UnknownTopicOrPartition,
                            format!("topic `{name}` does not exist"),
                        )),
                    },
                    (None, RESOURCE_BROKER)
                        if name.is_empty() || name == config.broker_id.to_string() =>
                    {
                        Ok((config.describe(), true))
                    }
                    (None, RESOURCE_BROKER) => Err((
                        ErrorCode::InvalidRequest,
                        format!("this is broker {}, not `{name}`", config.broker_id),
                    )),
                    (None, other) => Err((
                        ErrorCode::InvalidRequest,
                        format!("resource type {other} is not supported"),
                    )),
                };
            match described {
                Ok((entries, read_only)) => {
                    // Null or empty: every config (as Kafka's ConfigHelper).
                    let wanted = resource
                        .configuration_keys
                        .as_ref()
                        .filter(|k| !k.is_empty());
                    let configs = entries
                        .into_iter()
                        .filter(|entry| {
                            wanted.is_none_or(|keys| keys.iter().any(|k| k.as_str() == entry.def.name))
                        })
                        .map(|entry| config_result(entry, read_only, &detail))
                        .collect();
                    result.with_configs(configs)
                }
                Err((code, message)) => {
                    tracing::info!(peer = %ctx.peer, resource = %name, error = %code, %message, "DescribeConfigs refused");
                    result
                        .with_error_code(code.code())
                        .with_error_message(Some(StrBytes::from_string(message)))
                }
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn config_result(
    entry: DescribedConfig,
    read_only: bool,
    detail: &Detail,
) -> DescribeConfigsResourceResult {
    // Kafka never shows a PASSWORD key's value: null, marked sensitive.
    let sensitive = entry.def.kind == crate::config::registry::ConfigType::Password;
    let shown = |value: Option<String>| value.filter(|_| !sensitive).map(StrBytes::from_string);
    let synonyms = if detail.synonyms {
        entry
            .synonyms
            .iter()
            .map(|synonym| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_static_str(synonym.name))
                    .with_value(shown(synonym.value.clone()))
                    .with_source(synonym.source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(entry.def.name))
        .with_value(shown(entry.value))
        .with_read_only(read_only)
        .with_config_source(entry.source as i8)
        .with_is_sensitive(sensitive)
        .with_synonyms(synonyms)
        .with_config_type(if detail.types {
            entry.def.kind as i8
        } else {
            0
        })
        .with_documentation(
            detail
                .documentation
                .then(|| StrBytes::from_string(entry.def.documentation())),
        )
}

pub fn describe_cluster(
    ctx: &RequestContext<'_>,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    if !ctx.may_cluster(AclOperation::Describe) {
        return DescribeClusterResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
    }
    let operations = match request.include_cluster_authorized_operations {
        true => ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME),
        false => i32::MIN,
    };
    let brokers = ctx
        .shard
        .live_brokers(ctx.listener)
        .into_iter()
        .map(|(id, host, port, rack)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(id))
                .with_host(StrBytes::from_string(host))
                .with_port(i32::from(port))
                .with_rack(rack.map(StrBytes::from_string))
        })
        .collect();
    DescribeClusterResponse::default()
        .with_cluster_authorized_operations(operations)
        .with_cluster_id(StrBytes::from_string(ctx.shard.meta().cluster_id.clone()))
        .with_controller_id(BrokerId(ctx.shard.controller_id()))
        .with_brokers(brokers)
}
