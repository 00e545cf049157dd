//! Consumer group APIs: FindCoordinator (10), JoinGroup (11), Heartbeat (12), LeaveGroup (13),
//! SyncGroup (14), DescribeGroups (15), ListGroups (16), DeleteGroups (42), OffsetCommit (8),
//! OffsetFetch (9). Each is decoded here and run by the group's coordinator shard.

use std::rc::Rc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::group::coordinator::{JoinOutcome, JoinRequest, SyncOutcome};
use crate::group::store::CommittedOffset;
use crate::group::store::OFFSETS_TOPIC;
use crate::group::{coordinator_partition, OffsetToCommit};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::shard::group_ops::{GroupOp, GroupReply};
use crate::shard::ops::{ShardOp, ShardReply};
use crate::shard::{Route, Shard};

fn s(text: impl Into<String>) -> StrBytes {
    StrBytes::from_string(text.into())
}

/// Runs `op` on the coordinator of `group`.
pub(super) async fn ask_group(
    shard: &Rc<Shard>,
    group: &str,
    op: GroupOp,
) -> Result<GroupReply, ErrorCode> {
    ask(shard, group, op).await
}

/// Runs `op` on the coordinator of `group`.
async fn ask(shard: &Rc<Shard>, group: &str, op: GroupOp) -> Result<GroupReply, ErrorCode> {
    let partition =
        coordinator_partition(&shard.meta(), group).ok_or(ErrorCode::CoordinatorNotAvailable)?;
    // The coordinator is the leader of the group's offsets partition: elsewhere NOT_COORDINATOR
    // sends the client to FindCoordinator again.
    let owner = match shard.route(OFFSETS_TOPIC, partition) {
        Route::Local(owner) => owner,
        Route::Remote { .. } => return Err(ErrorCode::NotCoordinator),
        Route::Unknown => return Err(ErrorCode::CoordinatorNotAvailable),
    };
    match shard.call(owner, ShardOp::Group(op)).await {
        // COORDINATOR_LOAD_IN_PROGRESS: the client retries the same coordinator after a
        // backoff; NOT_COORDINATOR: it looks for the coordinator again.
        Ok(ShardReply::Group(GroupReply::Unavailable(code))) => Err(code),
        Ok(ShardReply::Group(reply)) => Ok(reply),
        _ => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

fn client_host(ctx: &RequestContext<'_>) -> String {
    // Kafka reports the client address with a leading slash (InetAddress.toString()).
    format!("/{}", ctx.peer.ip())
}

pub fn find_coordinator(
    ctx: &RequestContext<'_>,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    // key_type 0 = group, 1 = transaction. A group's coordinator is the leader of its
    // __consumer_offsets partition, a transactional id's that of its __transaction_state
    // partition; without one (the topic not created yet, or the partition offline)
    // COORDINATOR_NOT_AVAILABLE makes the client retry.
    let find = |key: &str| -> Result<(i32, String, u16), ErrorCode> {
        // DESCRIBE on the group or transactional id (Kafka's rule).
        let resource = match request.key_type {
            0 => Some(ResourceType::Group),
            1 => Some(ResourceType::TransactionalId),
            _ => None,
        };
        if let Some(code) = resource.and_then(|r| ctx.denied(AclOperation::Describe, r, key)) {
            return Err(code);
        }
        let leader = match request.key_type {
            0 => ctx
                .shard
                .group_coordinator(key)
                .ok_or(ErrorCode::CoordinatorNotAvailable)?,
            1 => super::txn::find_transaction_coordinator(ctx, key)?,
            _ => return Err(ErrorCode::InvalidRequest),
        };
        let (host, port) = ctx
            .shard
            .broker_endpoint(leader, ctx.listener)
            .ok_or(ErrorCode::CoordinatorNotAvailable)?;
        Ok((leader, host, port))
    };
    if ctx.api_version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key.clone());
                match find(key.as_str()) {
                    Ok((id, host, port)) => c
                        .with_node_id(BrokerId(id))
                        .with_host(s(host))
                        .with_port(i32::from(port)),
                    Err(code) => c
                        .with_error_code(code.code())
                        .with_node_id(BrokerId(-1))
                        .with_port(-1),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match find(request.key.as_str()) {
        Ok((id, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(id))
            .with_host(s(host))
            .with_port(i32::from(port)),
        Err(code) => FindCoordinatorResponse::default()
            .with_error_code(code.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1),
    }
}

pub async fn join_group(ctx: &RequestContext<'_>, request: JoinGroupRequest) -> JoinGroupResponse {
    let group = request.group_id.0.as_str().to_string();
    let join = JoinRequest {
        group: group.clone(),
        member_id: request.member_id.as_str().to_string(),
        instance_id: request.group_instance_id.map(|i| i.as_str().to_string()),
        client_id: ctx.client_id.unwrap_or("").to_string(),
        client_host: client_host(ctx),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if ctx.api_version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        protocol_type: request.protocol_type.as_str().to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.as_str().to_string(), p.metadata))
            .collect(),
        require_known_member_id: ctx.api_version >= 4,
    };
    let member_id = join.member_id.clone();
    let refused = !ctx.may(AclOperation::Read, ResourceType::Group, &group);
    let asked = match refused {
        true => Err(ErrorCode::GroupAuthorizationFailed),
        false => ask(ctx.shard, &group, GroupOp::Join(join)).await,
    };
    let outcome = match asked {
        Ok(GroupReply::Joined(outcome)) => outcome,
        Ok(_) => JoinOutcome {
            error: ErrorCode::UnknownServerError,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id,
            members: Vec::new(),
        },
        Err(code) => JoinOutcome {
            error: code,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id,
            members: Vec::new(),
        },
    };
    if outcome.error != ErrorCode::None && outcome.error != ErrorCode::MemberIdRequired {
        tracing::info!(peer = %ctx.peer, %group, error = %outcome.error, "JoinGroup refused");
    }
    let response = JoinGroupResponse::default()
        .with_error_code(outcome.error.code())
        .with_generation_id(outcome.generation)
        .with_protocol_name(Some(s(outcome.protocol_name.clone().unwrap_or_default())))
        .with_leader(s(outcome.leader))
        .with_member_id(s(outcome.member_id))
        .with_members(
            outcome
                .members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(s(id))
                        .with_group_instance_id(if ctx.api_version >= 5 {
                            instance.map(s)
                        } else {
                            None
                        })
                        .with_metadata(metadata)
                })
                .collect(),
        );
    if ctx.api_version >= 7 {
        response
            .with_protocol_type(outcome.protocol_type.map(s))
            .with_protocol_name(outcome.protocol_name.map(s))
    } else {
        response
    }
}

pub async fn sync_group(ctx: &RequestContext<'_>, request: SyncGroupRequest) -> SyncGroupResponse {
    let group = request.group_id.0.as_str().to_string();
    let op = GroupOp::Sync {
        group: group.clone(),
        generation: request.generation_id,
        member_id: request.member_id.as_str().to_string(),
        instance_id: request.group_instance_id.map(|i| i.as_str().to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.as_str().to_string(), a.assignment))
            .collect(),
    };
    let asked = match ctx.may(AclOperation::Read, ResourceType::Group, &group) {
        false => Err(ErrorCode::GroupAuthorizationFailed),
        true => ask(ctx.shard, &group, op).await,
    };
    let outcome = match asked {
        Ok(GroupReply::Synced(outcome)) => outcome,
        Ok(_) => sync_error(ErrorCode::UnknownServerError),
        Err(code) => sync_error(code),
    };
    let response = SyncGroupResponse::default()
        .with_error_code(outcome.error.code())
        .with_assignment(outcome.assignment);
    if ctx.api_version >= 5 {
        response
            .with_protocol_type(outcome.protocol_type.map(s))
            .with_protocol_name(outcome.protocol_name.map(s))
    } else {
        response
    }
}

fn sync_error(error: ErrorCode) -> SyncOutcome {
    SyncOutcome {
        error,
        protocol_type: None,
        protocol_name: None,
        assignment: Default::default(),
    }
}

pub async fn heartbeat(ctx: &RequestContext<'_>, request: HeartbeatRequest) -> HeartbeatResponse {
    let group = request.group_id.0.as_str().to_string();
    let op = GroupOp::Heartbeat {
        group: group.clone(),
        generation: request.generation_id,
        member_id: request.member_id.as_str().to_string(),
        instance_id: request.group_instance_id.map(|i| i.as_str().to_string()),
    };
    let asked = match ctx.may(AclOperation::Read, ResourceType::Group, &group) {
        false => Err(ErrorCode::GroupAuthorizationFailed),
        true => ask(ctx.shard, &group, op).await,
    };
    let code = match asked {
        Ok(GroupReply::Code(code)) => code,
        Ok(_) => ErrorCode::UnknownServerError,
        Err(code) => code,
    };
    HeartbeatResponse::default().with_error_code(code.code())
}

pub async fn leave_group(
    ctx: &RequestContext<'_>,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let group = request.group_id.0.as_str().to_string();
    // v0-2: one member id; v3+: a batch of members (static members by instance id).
    let members: Vec<(String, Option<String>)> = if ctx.api_version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.as_str().to_string(),
                    m.group_instance_id.as_ref().map(|i| i.as_str().to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.as_str().to_string(), None)]
    };
    if !ctx.may(AclOperation::Read, ResourceType::Group, &group) {
        return LeaveGroupResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
    }
    let codes = match ask(
        ctx.shard,
        &group,
        GroupOp::Leave {
            group: group.clone(),
            members: members.clone(),
        },
    )
    .await
    {
        Ok(GroupReply::Codes(codes)) => codes,
        Ok(_) => vec![ErrorCode::UnknownServerError; members.len()],
        Err(code) => vec![code; members.len()],
    };
    tracing::info!(peer = %ctx.peer, %group, members = members.len(), "LeaveGroup");
    if ctx.api_version >= 3 {
        let top = if codes.iter().all(|c| *c == ErrorCode::None) {
            ErrorCode::None
        } else {
            codes
                .iter()
                .copied()
                .find(|c| *c != ErrorCode::None)
                .unwrap_or(ErrorCode::None)
        };
        // Kafka puts member errors per member and only coordinator errors at the top.
        let top = if matches!(top, ErrorCode::CoordinatorNotAvailable) {
            top
        } else {
            ErrorCode::None
        };
        LeaveGroupResponse::default()
            .with_error_code(top.code())
            .with_members(
                members
                    .into_iter()
                    .zip(codes)
                    .map(|((id, instance), code)| {
                        MemberResponse::default()
                            .with_member_id(s(id))
                            .with_group_instance_id(instance.map(s))
                            .with_error_code(code.code())
                    })
                    .collect(),
            )
    } else {
        LeaveGroupResponse::default()
            .with_error_code(codes.first().copied().unwrap_or(ErrorCode::None).code())
    }
}

pub async fn offset_commit(
    ctx: &RequestContext<'_>,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group = request.group_id.0.as_str().to_string();
    let mut offsets = Vec::new();
    let mut shape = Vec::new();
    // READ on the group, then READ on each topic: refused partitions are not committed.
    let group_refused = ctx.denied(AclOperation::Read, ResourceType::Group, &group);
    for topic in &request.topics {
        let name = topic.name.0.as_str().to_string();
        let refused =
            group_refused.or_else(|| ctx.denied(AclOperation::Read, ResourceType::Topic, &name));
        let mut indexes = Vec::new();
        for p in &topic.partitions {
            if refused.is_some() {
                indexes.push((p.partition_index, refused));
                continue;
            }
            offsets.push(OffsetToCommit {
                topic: name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.as_str().to_string()),
            });
            indexes.push((p.partition_index, None));
        }
        shape.push((topic.name.clone(), indexes));
    }
    let count = offsets.len();
    let op = GroupOp::Commit {
        group: group.clone(),
        generation: request.generation_id_or_member_epoch,
        member_id: request.member_id.as_str().to_string(),
        instance_id: request.group_instance_id.map(|i| i.as_str().to_string()),
        offsets,
    };
    let codes = match count {
        0 => Vec::new(),
        _ => match ask(ctx.shard, &group, op).await {
            Ok(GroupReply::Codes(codes)) => codes,
            Ok(_) => vec![ErrorCode::UnknownServerError; count],
            Err(code) => vec![code; count],
        },
    };
    if let Some(code) = codes.iter().find(|c| **c != ErrorCode::None) {
        tracing::info!(peer = %ctx.peer, %group, error = %code, "OffsetCommit refused");
    }
    let mut codes = codes.into_iter();
    OffsetCommitResponse::default().with_topics(
        shape
            .into_iter()
            .map(|(name, indexes)| {
                OffsetCommitResponseTopic::default()
                    .with_name(name)
                    .with_partitions(
                        indexes
                            .into_iter()
                            .map(|(index, refused)| {
                                let code = refused.unwrap_or_else(|| {
                                    codes.next().unwrap_or(ErrorCode::UnknownServerError)
                                });
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(index)
                                    .with_error_code(code.code())
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// A partition's committed offset (if any), or why it cannot be given now.
type FetchedOffset = Result<Option<CommittedOffset>, ErrorCode>;
type FetchedOffsets = Vec<((String, i32), FetchedOffset)>;
/// Committed offsets of one topic: partition and offset (if any).
type TopicOffsets = (String, Vec<(i32, FetchedOffset)>);

async fn fetch_group_offsets(
    ctx: &RequestContext<'_>,
    group: &str,
    partitions: Option<Vec<(String, i32)>>,
    require_stable: bool,
) -> Result<FetchedOffsets, ErrorCode> {
    // DESCRIBE on the group; partitions of topics the principal may not describe are
    // TOPIC_AUTHORIZATION_FAILED when named, left out of a listing of all (Kafka's rules).
    if !ctx.may(AclOperation::Describe, ResourceType::Group, group) {
        return Err(ErrorCode::GroupAuthorizationFailed);
    }
    let may_describe = |topic: &str| ctx.can(AclOperation::Describe, ResourceType::Topic, topic);
    let (partitions, refused): (Option<Vec<_>>, Vec<_>) = match partitions {
        None => (None, Vec::new()),
        Some(named) => {
            let (allowed, refused) = named.into_iter().partition(|(t, _)| may_describe(t));
            (Some(allowed), refused)
        }
    };
    let asked_some = partitions.as_ref().is_none_or(|p| !p.is_empty());
    let op = GroupOp::FetchOffsets {
        group: group.to_string(),
        partitions,
        require_stable,
    };
    let mut offsets = match asked_some {
        true => match ask(ctx.shard, group, op).await? {
            GroupReply::Offsets(offsets) => offsets,
            _ => return Err(ErrorCode::UnknownServerError),
        },
        false => Vec::new(),
    };
    offsets.retain(|((topic, _), _)| may_describe(topic));
    offsets.extend(
        refused
            .into_iter()
            .map(|tp| (tp, Err(ErrorCode::TopicAuthorizationFailed))),
    );
    Ok(offsets)
}

/// Offsets grouped by topic, in first-seen order.
fn by_topic(offsets: FetchedOffsets) -> Vec<TopicOffsets> {
    super::by_topic(
        offsets
            .into_iter()
            .map(|((topic, partition), value)| (topic, (partition, value))),
    )
}

pub async fn offset_fetch(
    ctx: &RequestContext<'_>,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = ctx.api_version;
    if version >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for g in request.groups {
            let group = g.group_id.0.as_str().to_string();
            let wanted = g.topics.map(|topics| {
                requested_partitions(topics.into_iter().map(|t| (t.name, t.partition_indexes)))
            });
            let result = OffsetFetchResponseGroup::default().with_group_id(g.group_id);
            let stable = request.require_stable;
            groups.push(
                match fetch_group_offsets(ctx, &group, wanted, stable).await {
                    Ok(offsets) => result.with_topics(
                        by_topic(offsets)
                            .into_iter()
                            .map(|(topic, partitions)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(s(topic)))
                                    .with_partitions(
                                        partitions
                                            .into_iter()
                                            .map(|(p, value)| {
                                                let (offset, epoch, metadata, code) =
                                                    committed(value);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(offset)
                                                    .with_committed_leader_epoch(epoch)
                                                    .with_metadata(Some(s(metadata)))
                                                    .with_error_code(code.code())
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
                    Err(code) => result.with_error_code(code.code()),
                },
            );
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let group = request.group_id.0.as_str().to_string();
    let wanted = request.topics.map(|topics| {
        requested_partitions(topics.into_iter().map(|t| (t.name, t.partition_indexes)))
    });
    // require_stable exists from v7 on (KIP-447).
    let stable = version >= 7 && request.require_stable;
    match fetch_group_offsets(ctx, &group, wanted, stable).await {
        Ok(offsets) => OffsetFetchResponse::default().with_topics(
            by_topic(offsets)
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(s(topic)))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(p, value)| {
                                    let (offset, epoch, metadata, code) = committed(value);
                                    let partition = OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(offset)
                                        .with_metadata(Some(s(metadata)))
                                        .with_error_code(code.code());
                                    if version >= 5 {
                                        partition.with_committed_leader_epoch(epoch)
                                    } else {
                                        partition
                                    }
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
        Err(code) if version >= 2 => OffsetFetchResponse::default().with_error_code(code.code()),
        Err(_) => OffsetFetchResponse::default(),
    }
}

/// An OffsetFetch's topics and partition indexes as (topic, partition) pairs.
fn requested_partitions(topics: impl Iterator<Item = (TopicName, Vec<i32>)>) -> Vec<(String, i32)> {
    topics
        .flat_map(|(name, partitions)| {
            let name = name.0.as_str().to_string();
            partitions.into_iter().map(move |p| (name.clone(), p))
        })
        .collect()
}

/// (offset, leader epoch, metadata, error), or Kafka's "no offset" (-1, -1, "").
fn committed(value: FetchedOffset) -> (i64, i32, String, ErrorCode) {
    match value {
        Ok(Some(v)) => (v.offset, v.leader_epoch, v.metadata, ErrorCode::None),
        Ok(None) => (-1, -1, String::new(), ErrorCode::None),
        Err(code) => (-1, -1, String::new(), code),
    }
}

pub async fn describe_groups(
    ctx: &RequestContext<'_>,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let mut groups = Vec::with_capacity(request.groups.len());
    for id in request.groups {
        let name = id.0.as_str().to_string();
        let described = DescribedGroup::default().with_group_id(id);
        if !ctx.may(AclOperation::Describe, ResourceType::Group, &name) {
            groups.push(described.with_error_code(ErrorCode::GroupAuthorizationFailed.code()));
            continue;
        }
        let operations = match request.include_authorized_operations {
            true => ctx.authorized_operations(ResourceType::Group, &name),
            false => i32::MIN,
        };
        let described = described.with_authorized_operations(operations);
        groups.push(
            match ask(
                ctx.shard,
                &name,
                GroupOp::Describe {
                    group: name.clone(),
                },
            )
            .await
            {
                Ok(GroupReply::Described(Some(summary))) => described
                    .with_group_state(s(summary.state))
                    .with_protocol_type(s(summary.protocol_type))
                    .with_protocol_data(s(summary.protocol_name))
                    .with_members(
                        summary
                            .members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(s(m.member_id))
                                    .with_group_instance_id(if ctx.api_version >= 4 {
                                        m.instance_id.map(s)
                                    } else {
                                        None
                                    })
                                    .with_client_id(s(m.client_id))
                                    .with_client_host(s(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment)
                            })
                            .collect(),
                    ),
                // Kafka (v0-5) describes an unknown group as Dead, with no error.
                Ok(GroupReply::Described(None)) => described.with_group_state(s("Dead")),
                Ok(_) => described.with_error_code(ErrorCode::UnknownServerError.code()),
                Err(code) => described.with_error_code(code.code()),
            },
        );
    }
    DescribeGroupsResponse::default().with_groups(groups)
}

pub async fn list_groups(
    ctx: &RequestContext<'_>,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|st| st.as_str().to_lowercase())
        .collect();
    let mut groups = Vec::new();
    let mut error = ErrorCode::None;
    let all_visible = ctx.can(AclOperation::Describe, ResourceType::Cluster, CLUSTER_NAME);
    for peer in 0..ctx.shard.count {
        let reply = ctx.shard.call(peer, ShardOp::Group(GroupOp::List)).await;
        // Kafka lists what it has and answers COORDINATOR_LOAD_IN_PROGRESS while any offsets
        // partition is still loading.
        if let Ok(ShardReply::Group(GroupReply::Unavailable(code))) = reply {
            error = code;
        }
        if let Ok(ShardReply::Group(GroupReply::Listed(listed))) = reply {
            for (id, protocol_type, state) in listed {
                // DESCRIBE on the cluster lists every group, else those the principal may
                // describe (Kafka's rule).
                let visible =
                    all_visible || ctx.can(AclOperation::Describe, ResourceType::Group, &id);
                if visible && (states.is_empty() || states.contains(&state.to_lowercase())) {
                    let group = ListedGroup::default()
                        .with_group_id(GroupId(s(id)))
                        .with_protocol_type(s(protocol_type));
                    groups.push(if ctx.api_version >= 4 {
                        group.with_group_state(s(state))
                    } else {
                        group
                    });
                }
            }
        }
    }
    ListGroupsResponse::default()
        .with_error_code(error.code())
        .with_groups(groups)
}

pub async fn delete_groups(
    ctx: &RequestContext<'_>,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for id in request.groups_names {
        let name = id.0.as_str().to_string();
        let asked = match ctx.may(AclOperation::Delete, ResourceType::Group, &name) {
            false => Err(ErrorCode::GroupAuthorizationFailed),
            true => {
                ask(
                    ctx.shard,
                    &name,
                    GroupOp::Delete {
                        group: name.clone(),
                    },
                )
                .await
            }
        };
        let code = match asked {
            Ok(GroupReply::Code(code)) => code,
            Ok(_) => ErrorCode::UnknownServerError,
            Err(code) => code,
        };
        tracing::info!(peer = %ctx.peer, group = %name, result = %code, "DeleteGroups");
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code.code()),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}

pub async fn offset_delete(
    ctx: &RequestContext<'_>,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    use kafka_protocol::messages::offset_delete_response::{
        OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
    };
    let group = request.group_id.0.as_str().to_string();
    if !ctx.may(AclOperation::Delete, ResourceType::Group, &group) {
        return OffsetDeleteResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
    }
    // READ on each topic, else TOPIC_AUTHORIZATION_FAILED and its offsets kept.
    type Partitions = Vec<(String, i32)>;
    let (partitions, refused): (Partitions, Partitions) = request
        .topics
        .iter()
        .flat_map(|t| {
            let name = t.name.0.as_str().to_string();
            t.partitions
                .iter()
                .map(move |p| (name.clone(), p.partition_index))
        })
        .partition(|(topic, _)| ctx.may(AclOperation::Read, ResourceType::Topic, topic));
    let op = GroupOp::DeleteOffsets {
        group: group.clone(),
        partitions: partitions.clone(),
    };
    let codes = match ask(ctx.shard, &group, op).await {
        Ok(GroupReply::Codes(codes)) => codes,
        Ok(GroupReply::Code(code)) | Err(code) => {
            return OffsetDeleteResponse::default().with_error_code(code.code())
        }
        Ok(_) => {
            return OffsetDeleteResponse::default()
                .with_error_code(ErrorCode::UnknownServerError.code())
        }
    };
    tracing::info!(peer = %ctx.peer, %group, partitions = partitions.len(), "OffsetDelete");
    let topics = super::by_topic(
        partitions
            .into_iter()
            .zip(codes)
            .chain(
                refused
                    .into_iter()
                    .map(|tp| (tp, ErrorCode::TopicAuthorizationFailed)),
            )
            .map(|((topic, partition), code)| (topic, (partition, code))),
    )
    .into_iter()
    .map(|(topic, entries)| {
        OffsetDeleteResponseTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(
                entries
                    .into_iter()
                    .map(|(partition, code)| {
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(partition)
                            .with_error_code(code.code())
                    })
                    .collect(),
            )
    })
    .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
