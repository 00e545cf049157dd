//! CreateTopics (19), DeleteTopics (20), CreatePartitions (37), ElectLeaders (43): decoded
//! here, decided by the controller shard (`shard::controller`), answered per topic (or
//! partition) with Kafka's error codes.

use std::rc::Rc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest,
    CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, ElectLeadersRequest,
    ElectLeadersResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::metadata::election::ElectionType;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::shard::controller::{
    ControllerOp, ControllerReply, NewTopic, PartitionIncrease, Refusal, TopicOutcome,
};
use crate::shard::ops::{ShardOp, ShardReply};
use crate::shard::Shard;

pub(super) const CONTROLLER_SHARD: usize = 0;

/// Sends `op` to the controller shard and returns its per-topic outcomes.
pub(super) async fn ask_controller(
    shard: &Rc<Shard>,
    op: ControllerOp,
) -> Result<Vec<TopicOutcome>, Refusal> {
    match shard.call(CONTROLLER_SHARD, ShardOp::Controller(op)).await {
        Ok(ShardReply::Controller(ControllerReply::Topics(outcomes))) => Ok(outcomes),
        Ok(ShardReply::Controller(ControllerReply::NotController)) => Err(Refusal {
            code: ErrorCode::NotController,
            message: "this broker is not the active controller, and none answered".into(),
        }),
        _ => Err(Refusal {
            code: ErrorCode::UnknownServerError,
            message: "the controller shard did not answer".into(),
        }),
    }
}

/// Creates an internal topic on the controller: directly when this node is the active
/// controller, otherwise as a CreateTopics request forwarded to it (KIP-590), as a broker-only
/// node must.
pub(super) async fn create_internal_topic(
    shard: &Rc<Shard>,
    topic: NewTopic,
) -> Result<(), ErrorCode> {
    let name = topic.name.clone();
    match create_on_controller(shard, vec![topic]).await.pop() {
        Some((created, result)) if created == name => result,
        _ => Err(ErrorCode::UnknownServerError),
    }
}

/// Creates `topics` on the controller: directly when this node is the active controller,
/// otherwise as a CreateTopics request forwarded to it (KIP-590), so that any broker can
/// create a topic (Metadata's auto-creation included). A topic created meanwhile by someone
/// else counts as created.
async fn create_on_controller(
    shard: &Rc<Shard>,
    topics: Vec<NewTopic>,
) -> Vec<(String, Result<(), ErrorCode>)> {
    let request = CreateTopicsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|topic| {
                    CreatableTopic::default()
                        .with_name(TopicName(str_bytes(topic.name.clone())))
                        .with_num_partitions(topic.num_partitions)
                        .with_replication_factor(topic.replication_factor)
                        .with_configs(
                            topic
                                .configs
                                .iter()
                                .map(|(name, value)| {
                                    CreatableTopicConfig::default()
                                        .with_name(str_bytes(name.clone()))
                                        .with_value(value.clone().map(str_bytes))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
        .with_timeout_ms(30_000);
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let op = ControllerOp::CreateTopics {
        topics,
        validate_only: false,
    };
    let created = |name: String, code: ErrorCode| {
        let result = match code {
            ErrorCode::None | ErrorCode::TopicAlreadyExists => Ok(()),
            code => Err(code),
        };
        (name, result)
    };
    match ask_controller(shard, op).await {
        Ok(outcomes) => outcomes
            .into_iter()
            .map(|o| match o.result {
                Ok(meta) => {
                    tracing::info!(topic = %o.name, partitions = meta.partitions.len(), "topic created");
                    (o.name, Ok(()))
                }
                Err(refusal) => created(o.name, refusal.code),
            })
            .collect(),
        Err(refusal) if refusal.code == ErrorCode::NotController => {
            const VERSION: i16 = 7;
            let frame =
                super::controller_calls::request_bytes(ApiKey::CreateTopics, VERSION, &request);
            let forwarded: Result<CreateTopicsResponse, ErrorCode> =
                super::controller_calls::forwarded(shard, frame, ApiKey::CreateTopics, VERSION)
                    .await;
            match forwarded {
                Ok(response) => response
                    .topics
                    .into_iter()
                    .map(|t| created(t.name.0.to_string(), ErrorCode::from_wire(t.error_code)))
                    .collect(),
                Err(code) => names.into_iter().map(|n| (n, Err(code))).collect(),
            }
        }
        Err(refusal) => names.into_iter().map(|n| (n, Err(refusal.code))).collect(),
    }
}

fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Auto-creation (Metadata): topics with the broker's defaults, on the active controller.
pub async fn create_with_defaults(
    shard: &Rc<Shard>,
    names: Vec<String>,
) -> Vec<(String, Result<(), ErrorCode>)> {
    let topics = names
        .iter()
        .map(|name| NewTopic {
            name: name.clone(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: Vec::new(),
        })
        .collect();
    create_on_controller(shard, topics).await
}

pub async fn create_topics(
    ctx: &RequestContext<'_>,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|t| NewTopic {
            name: t.name.0.as_str().to_string(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .into_iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.into_iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
            configs: t
                .configs
                .iter()
                .map(|c| config_entry(&c.name, c.value.as_ref()))
                .collect(),
        })
        .collect::<Vec<_>>();
    // CREATE on the cluster allows every topic, else CREATE on each (Kafka's rule).
    let any_topic = ctx.can(AclOperation::Create, ResourceType::Cluster, CLUSTER_NAME);
    let (topics, refused) = authorized_topics(
        topics,
        |t| t.name.as_str(),
        |name| any_topic || ctx.may(AclOperation::Create, ResourceType::Topic, name),
    );
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let op = ControllerOp::CreateTopics {
        topics,
        validate_only: request.validate_only,
    };
    let mut outcomes = outcomes_or_refusal(ask_controller(ctx.shard, op).await, names);
    outcomes.extend(refused);
    let broker_config = &ctx.shard.config;
    let results = outcomes
        .into_iter()
        .map(|outcome| {
            let result = CreatableTopicResult::default()
                .with_name(TopicName(str_bytes(outcome.name.clone())));
            match outcome.result {
                Ok(meta) => {
                    tracing::info!(peer = %ctx.peer, topic = %meta.name, partitions = meta.partitions.len(), validate_only = request.validate_only, "CreateTopics");
                    let configs = broker_config
                        .describe_topic(&meta.configs)
                        .into_iter()
                        .map(|config| {
                            CreatableTopicConfigs::default()
                                .with_name(StrBytes::from_static_str(config.def.name))
                                .with_value(config.value.map(str_bytes))
                                .with_config_source(config.source as i8)
                        })
                        .collect();
                    result
                        .with_topic_id(if request.validate_only { Uuid::nil() } else { meta.id })
                        .with_num_partitions(meta.partitions.len() as i32)
                        .with_replication_factor(1)
                        // Configs are part of the response from v5 on.
                        .with_configs((ctx.api_version >= 5).then_some(configs))
                }
                Err(refusal) => {
                    tracing::info!(peer = %ctx.peer, topic = %outcome.name, error = %refusal.code, reason = %refusal.message, "CreateTopics refused");
                    result
                        .with_error_code(refusal.code.code())
                        .with_error_message(Some(str_bytes(refusal.message)))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

pub async fn delete_topics(
    ctx: &RequestContext<'_>,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let meta = ctx.shard.meta();
    // v6 names topics by name or id; earlier versions by name only.
    let mut unknown_ids = Vec::new();
    let mut names = Vec::new();
    for name in request.topic_names {
        names.push(name.0.as_str().to_string());
    }
    for state in request.topics {
        match state.name {
            Some(name) => names.push(name.0.as_str().to_string()),
            None => match meta.topic_by_id(state.topic_id) {
                Some(topic) => names.push(topic.name.clone()),
                None => unknown_ids.push(state.topic_id),
            },
        }
    }
    let (names, refused) = authorized_topics(
        names,
        |name| name.as_str(),
        |name| ctx.may(AclOperation::Delete, ResourceType::Topic, name),
    );
    let op = ControllerOp::DeleteTopics {
        names: names.clone(),
    };
    let mut outcomes = outcomes_or_refusal(ask_controller(ctx.shard, op).await, names);
    outcomes.extend(refused);
    let mut responses: Vec<DeletableTopicResult> = outcomes
        .into_iter()
        .map(|outcome| {
            let result = DeletableTopicResult::default()
                .with_name(Some(TopicName(str_bytes(outcome.name.clone()))));
            match outcome.result {
                Ok(meta) => {
                    tracing::info!(peer = %ctx.peer, topic = %outcome.name, "DeleteTopics");
                    result.with_topic_id(meta.id)
                }
                Err(refusal) => result
                    .with_error_code(refusal.code.code())
                    .with_error_message(Some(str_bytes(refusal.message))),
            }
        })
        .collect();
    responses.extend(unknown_ids.into_iter().map(|id| {
        DeletableTopicResult::default()
            .with_topic_id(id)
            .with_error_code(ErrorCode::UnknownTopicId.code())
            .with_error_message(Some(str_bytes(format!("no topic has id {id}"))))
    }));
    DeleteTopicsResponse::default().with_responses(responses)
}

pub async fn create_partitions(
    ctx: &RequestContext<'_>,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let topics: Vec<_> = request
        .topics
        .into_iter()
        .map(|t| {
            // Null (or empty) assignments: the broker places the new partitions.
            let assignments = t.assignments.filter(|a| !a.is_empty()).map(|list| {
                list.into_iter()
                    .map(|a| a.broker_ids.into_iter().map(|b| b.0).collect())
                    .collect()
            });
            PartitionIncrease {
                name: t.name.0.as_str().to_string(),
                count: t.count,
                assignments,
            }
        })
        .collect();
    let (topics, refused) = authorized_topics(
        topics,
        |t: &PartitionIncrease| t.name.as_str(),
        |name| ctx.may(AclOperation::Alter, ResourceType::Topic, name),
    );
    let names = topics.iter().map(|t| t.name.clone()).collect();
    let op = ControllerOp::CreatePartitions {
        topics,
        validate_only: request.validate_only,
    };
    let mut outcomes = outcomes_or_refusal(ask_controller(ctx.shard, op).await, names);
    outcomes.extend(refused);
    let results = outcomes
        .into_iter()
        .map(|outcome| {
            let result = CreatePartitionsTopicResult::default()
                .with_name(TopicName(str_bytes(outcome.name.clone())));
            match outcome.result {
                Ok(meta) => {
                    tracing::info!(peer = %ctx.peer, topic = %outcome.name, partitions = meta.partitions.len(), "CreatePartitions");
                    result
                }
                Err(refusal) => result
                    .with_error_code(refusal.code.code())
                    .with_error_message(Some(str_bytes(refusal.message))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

/// ElectLeaders (KIP-460): preferred or unclean leader elections, decided by the active
/// controller. Errors are per partition; the top-level code (v1+) says why none was tried.
pub async fn elect_leaders(
    ctx: &RequestContext<'_>,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    if !ctx.may_cluster(AclOperation::Alter) {
        return ElectLeadersResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
    }
    let Some(kind) = ElectionType::from_wire(request.election_type) else {
        tracing::warn!(peer = %ctx.peer, election_type = request.election_type, "ElectLeaders with an unknown election type");
        return ElectLeadersResponse::default().with_error_code(ErrorCode::InvalidRequest.code());
    };
    let partitions = request.topic_partitions.map(|topics| {
        topics
            .into_iter()
            .flat_map(|t| {
                let name = t.topic.0.as_str().to_string();
                t.partitions.into_iter().map(move |p| (name.clone(), p))
            })
            .collect::<Vec<_>>()
    });
    let op = ControllerOp::ElectLeaders { kind, partitions };
    let outcomes = match ctx
        .shard
        .call(CONTROLLER_SHARD, ShardOp::Controller(op))
        .await
    {
        Ok(ShardReply::Controller(ControllerReply::Elections(Ok(outcomes)))) => outcomes,
        Ok(ShardReply::Controller(ControllerReply::Elections(Err(code)))) => {
            return ElectLeadersResponse::default().with_error_code(code.code())
        }
        _ => {
            return ElectLeadersResponse::default().with_error_code(ErrorCode::NotController.code())
        }
    };
    let mut results: Vec<ReplicaElectionResult> = Vec::new();
    for outcome in outcomes {
        let (code, message) = match outcome.result {
            Ok(()) => (ErrorCode::None, None),
            Err((code, message)) => (code, Some(str_bytes(message))),
        };
        let partition = PartitionResult::default()
            .with_partition_id(outcome.partition)
            .with_error_code(code.code())
            .with_error_message(message);
        match results.last_mut() {
            Some(last) if last.topic.0.as_str() == outcome.topic => {
                last.partition_result.push(partition)
            }
            _ => results.push(
                ReplicaElectionResult::default()
                    .with_topic(TopicName(str_bytes(outcome.topic)))
                    .with_partition_result(vec![partition]),
            ),
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// Splits a request's topics into those the principal may change (`allowed`) and the
/// TOPIC_AUTHORIZATION_FAILED outcomes of the others.
fn authorized_topics<T>(
    topics: Vec<T>,
    name: impl Fn(&T) -> &str,
    allowed: impl Fn(&str) -> bool,
) -> (Vec<T>, Vec<TopicOutcome>) {
    let (permitted, refused): (Vec<T>, Vec<T>) = topics.into_iter().partition(|t| allowed(name(t)));
    let refused = refused
        .iter()
        .map(|t| TopicOutcome {
            name: name(t).to_string(),
            result: Err(Refusal {
                code: ErrorCode::TopicAuthorizationFailed,
                message: super::authorize::AUTHORIZATION_FAILED.to_string(),
            }),
        })
        .collect();
    (permitted, refused)
}

fn outcomes_or_refusal(
    answer: Result<Vec<TopicOutcome>, Refusal>,
    names: Vec<String>,
) -> Vec<TopicOutcome> {
    match answer {
        Ok(outcomes) => outcomes,
        Err(refusal) => names
            .into_iter()
            .map(|name| TopicOutcome {
                name,
                result: Err(refusal.clone()),
            })
            .collect(),
    }
}

/// A config entry off the wire (CreateTopics, AlterConfigs) as owned strings.
pub(super) fn config_entry(name: &StrBytes, value: Option<&StrBytes>) -> (String, Option<String>) {
    (
        name.as_str().to_string(),
        value.map(|v| v.as_str().to_string()),
    )
}
