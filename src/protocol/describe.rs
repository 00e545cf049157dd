//! DescribeConfigs (32) for topics and this broker, DescribeCluster (60).

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeConfigsRequest,
    DescribeConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::admin::{SOURCE_DEFAULT_CONFIG, SOURCE_STATIC_BROKER_CONFIG, SOURCE_TOPIC_CONFIG};
use super::RequestContext;
use crate::error_code::ErrorCode;

/// One config in a DescribeConfigs answer: key, value, Kafka's source, read-only.
type ConfigLine = (&'static str, String, i8, bool);

/// Kafka's ConfigResource.Type values.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

pub fn describe_configs(
    ctx: &RequestContext<'_>,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let config = &ctx.shard.config;
    let meta = ctx.shard.meta();
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let name = resource.resource_name.as_str().to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let entries: Result<Vec<ConfigLine>, (ErrorCode, String)> = match resource.resource_type
            {
                RESOURCE_TOPIC => match meta.topics.get(&name) {
                    Some(topic) => Ok(topic
                        .configs
                        .describe(&config.log)
                        .into_iter()
                        .map(|(key, value, is_default)| {
                            let source = if is_default {
                                SOURCE_DEFAULT_CONFIG
                            } else {
                                SOURCE_TOPIC_CONFIG
                            };
                            (key, value, source, false)
                        })
                        .collect()),
                    None => Err((
                        ErrorCode::UnknownTopicOrPartition,
                        format!("topic `{name}` does not exist"),
                    )),
                },
                RESOURCE_BROKER if name.is_empty() || name == config.broker_id.to_string() => {
                    Ok(config
                        .describe()
                        .into_iter()
                        .map(|(key, value, given)| {
                            let source = if given {
                                SOURCE_STATIC_BROKER_CONFIG
                            } else {
                                SOURCE_DEFAULT_CONFIG
                            };
                            (key, value, source, true)
                        })
                        .collect())
                }
                RESOURCE_BROKER => Err((
                    ErrorCode::InvalidRequest,
                    format!("this is broker {}, not `{name}`", config.broker_id),
                )),
                other => Err((
                    ErrorCode::InvalidRequest,
                    format!("resource type {other} is not supported"),
                )),
            };
            match entries {
                Ok(entries) => {
                    // Null or empty: every config (as Kafka's ConfigHelper).
                    let wanted = resource
                        .configuration_keys
                        .as_ref()
                        .filter(|k| !k.is_empty());
                    let configs = entries
                        .into_iter()
                        .filter(|(key, ..)| {
                            wanted.is_none_or(|keys| keys.iter().any(|k| k.as_str() == *key))
                        })
                        .map(|(key, value, source, read_only)| {
                            DescribeConfigsResourceResult::default()
                                .with_name(StrBytes::from_static_str(key))
                                .with_value(Some(StrBytes::from_string(value)))
                                .with_read_only(read_only)
                                .with_config_source(source)
                        })
                        .collect();
                    result.with_configs(configs)
                }
                Err((code, message)) => result
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

pub fn describe_cluster(
    ctx: &RequestContext<'_>,
    _request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let config = &ctx.shard.config;
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(ctx.shard.meta().cluster_id.clone()))
        .with_controller_id(BrokerId(config.broker_id))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(config.broker_id))
            .with_host(StrBytes::from_string(config.advertised.host.clone()))
            .with_port(i32::from(config.advertised.port))])
}
