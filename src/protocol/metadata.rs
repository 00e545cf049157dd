//! Metadata (key 3): the cluster's live brokers, each partition's leader, replicas, ISR and
//! offline replicas, the active controller, topics by name or id, and
//! auto-creation of unknown topics (`auto.create.topics.enable` and the request's
//! `allow_auto_topic_creation`, v4+).

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::admin::create_with_defaults;
use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::metadata::{validate_topic_name, TopicMeta};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};

pub async fn handle(ctx: &RequestContext<'_>, request: MetadataRequest) -> MetadataResponse {
    let config = &ctx.shard.config;
    // v0: an empty list means every topic; v1+: null does.
    let requested = match request.topics {
        Some(topics) if !(ctx.api_version == 0 && topics.is_empty()) => Some(topics),
        _ => None,
    };
    let allow_auto_create =
        config.auto_create_topics && (ctx.api_version < 4 || request.allow_auto_topic_creation);

    let brokers_here = ctx.shard.live_brokers(ctx.listener);
    let on_listener: Vec<i32> = brokers_here.iter().map(|b| b.0).collect();
    // This broker lists itself before its registration is applied (`live_brokers`).
    let mut all: Vec<i32> = ctx.shard.meta().live_brokers().map(|b| b.id).collect();
    all.extend(
        on_listener
            .iter()
            .filter(|id| !all.contains(id))
            .collect::<Vec<_>>(),
    );
    let live = Live { all, on_listener };
    let mut topics = Vec::new();
    // With an authorizer, every topic asked for needs DESCRIBE, and a listing of all topics
    // holds only those the principal may describe (as Kafka).
    let may_describe = |name: &str| ctx.can(AclOperation::Describe, ResourceType::Topic, name);
    match requested {
        None => {
            let meta = ctx.shard.meta();
            topics.extend(
                meta.topics
                    .values()
                    .filter(|t| may_describe(&t.name))
                    .map(|t| topic_response(t, &live)),
            );
        }
        Some(requested) => {
            let mut missing = Vec::new();
            for wanted in &requested {
                let meta = ctx.shard.meta();
                // v10+: a topic may be named by id (its name then null).
                let found = if !wanted.topic_id.is_nil() {
                    meta.topic_by_id(wanted.topic_id)
                } else {
                    wanted
                        .name
                        .as_ref()
                        .and_then(|n| meta.topics.get(n.0.as_str()))
                };
                let by_name = wanted.name.as_ref().filter(|_| wanted.topic_id.is_nil());
                let named = found
                    .map(|t| t.name.as_str())
                    .or_else(|| by_name.map(|n| n.0.as_str()));
                if let Some(name) =
                    named.filter(|name| !ctx.may(AclOperation::Describe, ResourceType::Topic, name))
                {
                    // Named by id, an unauthorized topic stays nameless, as in Kafka.
                    let shown = by_name.map(|_| name);
                    topics.push(
                        error_topic(shown, ErrorCode::TopicAuthorizationFailed)
                            .with_topic_id(wanted.topic_id),
                    );
                    continue;
                }
                match (found, by_name) {
                    (Some(topic), _) => topics.push(topic_response(topic, &live)),
                    (None, None) => topics.push(
                        error_topic(None, ErrorCode::UnknownTopicId).with_topic_id(wanted.topic_id),
                    ),
                    (None, Some(name)) => {
                        let name = name.0.as_str().to_string();
                        if let Err(reason) = validate_topic_name(&name) {
                            tracing::debug!(peer = %ctx.peer, %reason, "metadata for an invalid topic name");
                            topics.push(error_topic(Some(&name), ErrorCode::InvalidTopicException));
                        } else if allow_auto_create
                            && !ctx.can(AclOperation::Create, ResourceType::Cluster, CLUSTER_NAME)
                            && !ctx.may(AclOperation::Create, ResourceType::Topic, &name)
                        {
                            topics.push(error_topic(
                                Some(&name),
                                ErrorCode::TopicAuthorizationFailed,
                            ));
                        } else if allow_auto_create {
                            missing.push(name);
                        } else {
                            topics
                                .push(error_topic(Some(&name), ErrorCode::UnknownTopicOrPartition));
                        }
                    }
                }
            }
            if !missing.is_empty() {
                for (name, result) in create_with_defaults(ctx.shard, missing).await {
                    match result {
                        Ok(()) => match ctx.shard.meta().topics.get(&name) {
                            Some(topic) => topics.push(topic_response(topic, &live)),
                            // Created on the controller, not yet in this broker's metadata:
                            // Kafka's answer for a topic just auto-created.
                            None => {
                                topics.push(error_topic(Some(&name), ErrorCode::LeaderNotAvailable))
                            }
                        },
                        Err(code) => topics.push(error_topic(Some(&name), code)),
                    }
                }
            }
        }
    }

    let meta = ctx.shard.meta();
    let brokers = brokers_here
        .into_iter()
        .map(|(id, host, port, rack)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_string(host))
                .with_port(i32::from(port))
                .with_rack(rack.map(StrBytes::from_string))
        })
        .collect();
    if request.include_topic_authorized_operations {
        for topic in topics.iter_mut().filter(|t| t.error_code == 0) {
            if let Some(name) = &topic.name {
                topic.topic_authorized_operations =
                    ctx.authorized_operations(ResourceType::Topic, name.0.as_str());
            }
        }
    }
    let cluster_operations = match request.include_cluster_authorized_operations {
        true => ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME),
        false => i32::MIN,
    };
    MetadataResponse::default()
        .with_cluster_authorized_operations(cluster_operations)
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(meta.cluster_id.clone())))
        .with_controller_id(BrokerId(ctx.shard.controller_id()))
        .with_topics(topics)
}

/// The live brokers, and those of them that advertise the request's listener.
struct Live {
    all: Vec<i32>,
    on_listener: Vec<i32>,
}

fn topic_response(topic: &TopicMeta, live: &Live) -> MetadataResponseTopic {
    let brokers = |ids: &[i32]| ids.iter().copied().map(BrokerId).collect::<Vec<_>>();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(crate::metadata::is_internal_topic(&topic.name))
        .with_partitions(
            topic
                .partitions
                .iter()
                .enumerate()
                .map(|(index, p)| {
                    // Kafka answers LEADER_NOT_AVAILABLE for a partition without a leader, and
                    // LISTENER_NOT_FOUND (leader -1) when its live leader does not advertise
                    // the listener the client came in on.
                    let (code, leader) = if p.leader == crate::metadata::NO_LEADER {
                        (ErrorCode::LeaderNotAvailable.code(), p.leader)
                    } else if live.all.contains(&p.leader) && !live.on_listener.contains(&p.leader)
                    {
                        (
                            ErrorCode::ListenerNotFound.code(),
                            crate::metadata::NO_LEADER,
                        )
                    } else {
                        (0, p.leader)
                    };
                    let offline: Vec<BrokerId> = p
                        .replicas
                        .iter()
                        .copied()
                        .filter(|r| !live.all.contains(r))
                        .map(BrokerId)
                        .collect();
                    MetadataResponsePartition::default()
                        .with_error_code(code)
                        .with_offline_replicas(offline)
                        .with_partition_index(index as i32)
                        .with_leader_id(BrokerId(leader))
                        .with_leader_epoch(p.leader_epoch)
                        .with_replica_nodes(brokers(&p.replicas))
                        .with_isr_nodes(brokers(&p.isr))
                })
                .collect(),
        )
}

fn error_topic(name: Option<&str>, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n.to_string()))))
        .with_topic_id(Uuid::nil())
}
