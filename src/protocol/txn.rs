//! The transaction APIs (KIP-98): InitProducerId with a transactional id (22),
//! AddPartitionsToTxn (24), AddOffsetsToTxn (25), EndTxn (26), WriteTxnMarkers (27),
//! TxnOffsetCommit (28), DescribeTransactions (65) and ListTransactions (66), and
//! FindCoordinator's transaction key type. Each is decoded here and run by the coordinator of
//! the id's `__transaction_state` partition (`shard::txn_ops`), or, for markers and offsets,
//! by the partitions' leaders and the group's coordinator.

use std::rc::Rc;

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedState;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::group::OffsetToCommit;
use crate::record::TxnMarker;
use crate::security::acl::{AclOperation, ResourceType};
use crate::shard::controller::NewTopic;
use crate::shard::group_ops::{GroupOp, GroupReply};
use crate::shard::ops::{ShardOp, ShardReply, TopicPartition};
use crate::shard::txn_ops::{txn_partition_of, write_marker_here, TxnOp, TxnReply};
use crate::shard::{Route, Shard};
use crate::txn::state::ExpectedProducer;
use crate::txn::{Reply, TxnMetadata, TxnPartition, TRANSACTION_STATE_TOPIC};

/// The WriteTxnMarkers version brokers send each other (the only one the crate speaks).
pub const WRITE_TXN_MARKERS_VERSION: i16 = 1;

fn s(text: impl Into<String>) -> StrBytes {
    StrBytes::from_string(text.into())
}

/// Runs `op` on the coordinator of `transactional_id`: NOT_COORDINATOR when this broker does
/// not lead its `__transaction_state` partition (the client looks for the coordinator again),
/// COORDINATOR_NOT_AVAILABLE before the topic exists.
async fn ask(shard: &Rc<Shard>, transactional_id: &str, op: TxnOp) -> Result<TxnReply, ErrorCode> {
    let partition =
        txn_partition_of(shard, transactional_id).ok_or(ErrorCode::CoordinatorNotAvailable)?;
    let owner = match shard.route(TRANSACTION_STATE_TOPIC, partition) {
        Route::Local(owner) => owner,
        Route::Remote { .. } => return Err(ErrorCode::NotCoordinator),
        Route::Unknown => return Err(ErrorCode::CoordinatorNotAvailable),
    };
    match shard.call(owner, ShardOp::Txn(op)).await {
        Ok(ShardReply::Txn(reply)) => Ok(reply),
        _ => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

/// An answer that is only a code.
fn answer_code(reply: Result<TxnReply, ErrorCode>) -> ErrorCode {
    match reply {
        Ok(TxnReply::Answer(Ok(_))) => ErrorCode::None,
        Ok(TxnReply::Answer(Err(code))) | Err(code) => code,
        Ok(_) => ErrorCode::UnknownServerError,
    }
}

/// FindCoordinator with key type 1: the leader of the id's `__transaction_state` partition.
/// The topic is created on the first such request, as Kafka does; until it has leaders the
/// client hears COORDINATOR_NOT_AVAILABLE and asks again.
pub fn find_transaction_coordinator(
    ctx: &RequestContext<'_>,
    transactional_id: &str,
) -> Result<i32, ErrorCode> {
    let Some(partition) = txn_partition_of(ctx.shard, transactional_id) else {
        let shard = ctx.shard.clone();
        glommio::spawn_local(async move { create_transaction_state_topic(&shard).await }).detach();
        return Err(ErrorCode::CoordinatorNotAvailable);
    };
    let meta = ctx.shard.meta();
    meta.topics
        .get(TRANSACTION_STATE_TOPIC)
        .and_then(|t| t.partition(partition))
        .map(|p| p.leader)
        .filter(|l| *l != crate::metadata::NO_LEADER)
        .ok_or(ErrorCode::CoordinatorNotAvailable)
}

/// Creates `__transaction_state` with Kafka's `transaction.state.log.*` settings:
/// compacted, its partitions and replicas (capped at the cluster's voters), min ISR.
async fn create_transaction_state_topic(shard: &Rc<Shard>) {
    let txn = shard.config.txn;
    let voters = shard.config.cluster.voters.len().max(1);
    let factor = (txn.state_replication_factor.max(1) as usize).min(voters) as i16;
    if factor < txn.state_replication_factor {
        tracing::warn!(
            transaction_state_log_replication_factor = txn.state_replication_factor,
            replicas = factor,
            "the cluster has fewer nodes than transaction.state.log.replication.factor: __transaction_state gets fewer replicas"
        );
    }
    let min_isr = txn.state_min_isr.clamp(1, factor);
    let topic = NewTopic {
        name: TRANSACTION_STATE_TOPIC.to_string(),
        num_partitions: txn.state_partitions,
        replication_factor: factor,
        assignments: Vec::new(),
        configs: vec![
            ("cleanup.policy".into(), Some("compact".into())),
            (
                "segment.bytes".into(),
                Some(txn.state_segment_bytes.to_string()),
            ),
            ("min.insync.replicas".into(), Some(min_isr.to_string())),
        ],
    };
    match super::admin::create_internal_topic(shard, topic).await {
        Ok(()) => tracing::info!(
            partitions = txn.state_partitions,
            replicas = factor,
            "created __transaction_state"
        ),
        Err(ErrorCode::TopicAlreadyExists) => {}
        Err(code) => tracing::warn!(error = %code, "__transaction_state not created yet"),
    }
}

/// InitProducerId with a transactional id: the coordinator's producer id and epoch.
pub async fn init_producer_id(
    ctx: &RequestContext<'_>,
    request: &InitProducerIdRequest,
    transactional_id: &str,
) -> Result<(i64, i16), ErrorCode> {
    // KIP-360 (v3+): a producer that had an id names it and its epoch.
    let expected =
        (ctx.api_version >= 3 && request.producer_id.0 >= 0).then_some(ExpectedProducer {
            producer_id: request.producer_id.0,
            producer_epoch: request.producer_epoch,
        });
    let op = TxnOp::InitProducerId {
        transactional_id: transactional_id.to_string(),
        timeout_ms: request.transaction_timeout_ms,
        expected,
    };
    match ask(ctx.shard, transactional_id, op).await? {
        TxnReply::Answer(Ok(Reply::Producer {
            producer_id,
            producer_epoch,
        })) => Ok((producer_id, producer_epoch)),
        TxnReply::Answer(Err(code)) => Err(code),
        _ => Err(ErrorCode::UnknownServerError),
    }
}

/// A request's topics as transaction partitions; each unknown partition gets
/// UNKNOWN_TOPIC_OR_PARTITION and the rest OPERATION_NOT_ATTEMPTED, as Kafka answers.
fn known_partitions(
    shard: &Shard,
    topics: &[add_partitions_to_txn_request::AddPartitionsToTxnTopic],
) -> Result<Vec<TxnPartition>, Vec<(TxnPartition, ErrorCode)>> {
    let meta = shard.meta();
    let partitions: Vec<TxnPartition> = topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|&partition| TxnPartition {
                topic: t.name.0.as_str().to_string(),
                partition,
            })
        })
        .collect();
    let unknown = |p: &TxnPartition| {
        meta.topics
            .get(&p.topic)
            .is_none_or(|t| t.partition(p.partition).is_none())
    };
    if !partitions.iter().any(unknown) {
        return Ok(partitions);
    }
    Err(partitions
        .into_iter()
        .map(|p| {
            let code = match unknown(&p) {
                true => ErrorCode::UnknownTopicOrPartition,
                false => ErrorCode::OperationNotAttempted,
            };
            (p, code)
        })
        .collect())
}

/// Per-partition codes grouped by topic, as AddPartitionsToTxn answers them.
fn topic_results(results: Vec<(TxnPartition, ErrorCode)>) -> Vec<AddPartitionsToTxnTopicResult> {
    super::by_topic(
        results
            .into_iter()
            .map(|(p, code)| (p.topic, (p.partition, code))),
    )
    .into_iter()
    .map(|(topic, partitions)| {
        AddPartitionsToTxnTopicResult::default()
            .with_name(TopicName(s(topic)))
            .with_results_by_partition(
                partitions
                    .into_iter()
                    .map(|(partition, code)| {
                        AddPartitionsToTxnPartitionResult::default()
                            .with_partition_index(partition)
                            .with_partition_error_code(code.code())
                    })
                    .collect(),
            )
    })
    .collect()
}

/// One transaction's AddPartitionsToTxn (or its verify-only form).
async fn add_partitions(
    shard: &Rc<Shard>,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    topics: &[add_partitions_to_txn_request::AddPartitionsToTxnTopic],
    verify_only: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let partitions = match known_partitions(shard, topics) {
        Ok(partitions) => partitions,
        Err(refused) => return topic_results(refused),
    };
    let all = |code: ErrorCode, partitions: Vec<TxnPartition>| {
        topic_results(partitions.into_iter().map(|p| (p, code)).collect())
    };
    let transactional_id = transactional_id.to_string();
    if verify_only {
        let op = TxnOp::VerifyPartitions {
            transactional_id: transactional_id.clone(),
            producer_id,
            producer_epoch,
            partitions: partitions.clone(),
        };
        return match ask(shard, &transactional_id, op).await {
            Ok(TxnReply::Verified(Ok(results))) => topic_results(results),
            Ok(TxnReply::Verified(Err(code))) | Err(code) => all(code, partitions),
            Ok(_) => all(ErrorCode::UnknownServerError, partitions),
        };
    }
    let op = TxnOp::AddPartitions {
        transactional_id: transactional_id.clone(),
        producer_id,
        producer_epoch,
        partitions: partitions.clone(),
    };
    let code = answer_code(ask(shard, &transactional_id, op).await);
    if code != ErrorCode::None {
        tracing::debug!(%transactional_id, error = %code, "AddPartitionsToTxn refused");
    }
    all(code, partitions)
}

pub async fn add_partitions_to_txn(
    ctx: &RequestContext<'_>,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if ctx.api_version <= 3 {
        // WRITE on the transactional id and on every topic; if anything is refused, nothing
        // is added: refused topics answer their error, the others OPERATION_NOT_ATTEMPTED.
        let id = request.v3_and_below_transactional_id.0.as_str();
        let topics = &request.v3_and_below_topics;
        let id_refused = !ctx.may(AclOperation::Write, ResourceType::TransactionalId, id);
        let refused_topics: Vec<&str> = topics
            .iter()
            .map(|t| t.name.0.as_str())
            .filter(|name| id_refused || !ctx.may(AclOperation::Write, ResourceType::Topic, name))
            .collect();
        if !refused_topics.is_empty() {
            let results = topics
                .iter()
                .flat_map(|t| {
                    let code = match (id_refused, refused_topics.contains(&t.name.0.as_str())) {
                        (true, _) => ErrorCode::TransactionalIdAuthorizationFailed,
                        (false, true) => ErrorCode::TopicAuthorizationFailed,
                        (false, false) => ErrorCode::OperationNotAttempted,
                    };
                    t.partitions.iter().map(move |&partition| {
                        let topic = t.name.0.as_str().to_string();
                        (TxnPartition { topic, partition }, code)
                    })
                })
                .collect();
            return AddPartitionsToTxnResponse::default()
                .with_results_by_topic_v3_and_below(topic_results(results));
        }
        let results = add_partitions(
            ctx.shard,
            request.v3_and_below_transactional_id.0.as_str(),
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            &request.v3_and_below_topics,
            false,
        )
        .await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    // v4+: batched, sent by brokers (KIP-890), each transaction answered on its own.
    if !ctx.may_cluster(AclOperation::ClusterAction) {
        return AddPartitionsToTxnResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
    }
    let mut results = Vec::with_capacity(request.transactions.len());
    for txn in &request.transactions {
        let topics = add_partitions(
            ctx.shard,
            txn.transactional_id.0.as_str(),
            txn.producer_id.0,
            txn.producer_epoch,
            &txn.topics,
            txn.verify_only,
        )
        .await;
        results.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(txn.transactional_id.clone())
                .with_topic_results(topics),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction, so that
/// its marker settles the offsets TxnOffsetCommit writes there.
pub async fn add_offsets_to_txn(
    ctx: &RequestContext<'_>,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let transactional_id = request.transactional_id.0.as_str().to_string();
    let group = request.group_id.0.as_str();
    if !ctx.may(
        AclOperation::Write,
        ResourceType::TransactionalId,
        &transactional_id,
    ) {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(ErrorCode::TransactionalIdAuthorizationFailed.code());
    }
    if !ctx.may(AclOperation::Read, ResourceType::Group, group) {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
    }
    let Some(partition) = crate::group::coordinator_partition(&ctx.shard.meta(), group) else {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(ErrorCode::CoordinatorNotAvailable.code());
    };
    let op = TxnOp::AddPartitions {
        transactional_id: transactional_id.clone(),
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
        partitions: vec![TxnPartition {
            topic: crate::group::store::OFFSETS_TOPIC.to_string(),
            partition,
        }],
    };
    let code = answer_code(ask(ctx.shard, &transactional_id, op).await);
    AddOffsetsToTxnResponse::default().with_error_code(code.code())
}

pub async fn end_txn(ctx: &RequestContext<'_>, request: EndTxnRequest) -> EndTxnResponse {
    let transactional_id = request.transactional_id.0.as_str().to_string();
    if !ctx.may(
        AclOperation::Write,
        ResourceType::TransactionalId,
        &transactional_id,
    ) {
        return EndTxnResponse::default()
            .with_error_code(ErrorCode::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    let op = TxnOp::EndTxn {
        transactional_id: transactional_id.clone(),
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
        commit: request.committed,
    };
    let code = answer_code(ask(ctx.shard, &transactional_id, op).await);
    if code != ErrorCode::None {
        tracing::info!(peer = %ctx.peer, %transactional_id, commit = request.committed, error = %code, "EndTxn refused");
    }
    EndTxnResponse::default()
        .with_error_code(code.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// TxnOffsetCommit: offsets committed inside the transaction, by the group's coordinator.
pub async fn txn_offset_commit(
    ctx: &RequestContext<'_>,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let group = request.group_id.0.as_str().to_string();
    // WRITE on the transactional id, READ on the group, READ on each topic (Kafka's rules):
    // refused partitions are not committed.
    let transactional_id = request.transactional_id.0.as_str();
    let refused = ctx
        .denied(
            AclOperation::Write,
            ResourceType::TransactionalId,
            transactional_id,
        )
        .or_else(|| ctx.denied(AclOperation::Read, ResourceType::Group, &group));
    let refusal = |topic: &str| {
        refused.or_else(|| ctx.denied(AclOperation::Read, ResourceType::Topic, topic))
    };
    let mut refused_partitions: Vec<((String, i32), ErrorCode)> = Vec::new();
    let mut allowed_topics = Vec::new();
    for t in &request.topics {
        match refusal(t.name.0.as_str()) {
            Some(code) => refused_partitions.extend(
                t.partitions
                    .iter()
                    .map(|p| ((t.name.0.as_str().to_string(), p.partition_index), code)),
            ),
            None => allowed_topics.push(t),
        }
    }
    let offsets: Vec<OffsetToCommit> = allowed_topics
        .into_iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| OffsetToCommit {
                topic: t.name.0.as_str().to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.as_str().to_string()),
            })
        })
        .collect();
    let keys: Vec<(String, i32)> = offsets
        .iter()
        .map(|o| (o.topic.clone(), o.partition))
        .collect();
    let op = GroupOp::TxnCommit {
        group: group.clone(),
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
        // v3+ (KIP-447); the crate decodes -1 and "" before.
        generation: request.generation_id,
        member_id: request.member_id.as_str().to_string(),
        instance_id: request
            .group_instance_id
            .as_ref()
            .map(|i| i.as_str().to_string()),
        offsets,
    };
    let codes = match keys.len() {
        0 => Vec::new(),
        _ => match super::group::ask_group(ctx.shard, &group, op).await {
            Ok(GroupReply::Codes(codes)) => codes,
            Ok(GroupReply::Code(code)) | Err(code) => vec![code; keys.len()],
            Ok(_) => vec![ErrorCode::UnknownServerError; keys.len()],
        },
    };
    let topics = super::by_topic(
        keys.into_iter()
            .zip(codes)
            .chain(refused_partitions)
            .map(|((topic, partition), code)| (topic, (partition, code))),
    )
    .into_iter()
    .map(|(topic, partitions)| {
        TxnOffsetCommitResponseTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(
                partitions
                    .into_iter()
                    .map(|(partition, code)| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(partition)
                            .with_error_code(code.code())
                    })
                    .collect(),
            )
    })
    .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// WriteTxnMarkers (from a transaction coordinator): each marker appended to each partition
/// this broker leads, answered per partition.
pub async fn write_txn_markers(
    ctx: &RequestContext<'_>,
    request: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let mut markers = Vec::with_capacity(request.markers.len());
    // Only brokers write markers: CLUSTER_ACTION (Kafka's rule).
    let refused = !ctx.may_cluster(AclOperation::ClusterAction);
    for m in request.markers {
        let marker = TxnMarker {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            commit: m.transaction_result,
            coordinator_epoch: m.coordinator_epoch,
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in m.topics {
            let topic = t.name.0.as_str().to_string();
            let tasks: Vec<_> = t
                .partition_indexes
                .iter()
                .map(|&partition| {
                    let shard = ctx.shard.clone();
                    let tp = TopicPartition {
                        topic: topic.clone(),
                        partition,
                    };
                    glommio::spawn_local(async move {
                        match refused {
                            true => ErrorCode::ClusterAuthorizationFailed,
                            false => write_marker_here(&shard, tp, marker).await,
                        }
                    })
                })
                .collect();
            let mut partitions = Vec::with_capacity(tasks.len());
            for (partition, task) in t.partition_indexes.iter().zip(tasks) {
                partitions.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(*partition)
                        .with_error_code(task.await.code()),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions),
            );
        }
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    WriteTxnMarkersResponse::default().with_markers(markers)
}

/// The WriteTxnMarkers request a coordinator sends a partition leader.
pub fn write_txn_markers_request(
    marker: TxnMarker,
    partitions: &[TxnPartition],
) -> WriteTxnMarkersRequest {
    let topics = super::by_topic(partitions.iter().map(|p| (p.topic.clone(), p.partition)))
        .into_iter()
        .map(|(topic, indexes)| {
            WritableTxnMarkerTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partition_indexes(indexes)
        })
        .collect();
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(marker.producer_id))
        .with_producer_epoch(marker.producer_epoch)
        .with_transaction_result(marker.commit)
        .with_topics(topics)
        .with_coordinator_epoch(marker.coordinator_epoch)])
}

/// Each partition's code in a WriteTxnMarkers response (missing ones: UNKNOWN_SERVER_ERROR).
pub fn write_txn_markers_codes(
    response: &WriteTxnMarkersResponse,
    partitions: &[TxnPartition],
) -> Vec<ErrorCode> {
    partitions
        .iter()
        .map(|p| {
            response
                .markers
                .iter()
                .flat_map(|m| &m.topics)
                .filter(|t| t.name.0.as_str() == p.topic)
                .flat_map(|t| &t.partitions)
                .find(|r| r.partition_index == p.partition)
                .map_or(ErrorCode::UnknownServerError, |r| {
                    ErrorCode::from_wire(r.error_code)
                })
        })
        .collect()
}

fn described(meta: &TxnMetadata) -> TransactionState {
    let topics = super::by_topic(
        meta.partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition)),
    )
    .into_iter()
    .map(|(topic, partitions)| {
        TopicData::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(partitions)
    })
    .collect();
    TransactionState::default()
        .with_transactional_id(TransactionalId(s(meta.transactional_id.clone())))
        .with_transaction_state(s(meta.state.name()))
        .with_transaction_timeout_ms(meta.timeout_ms)
        .with_transaction_start_time_ms(meta.start_ms)
        .with_producer_id(ProducerId(meta.producer_id))
        .with_producer_epoch(meta.producer_epoch)
        .with_topics(topics)
}

pub async fn describe_transactions(
    ctx: &RequestContext<'_>,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(request.transactional_ids.len());
    for id in request.transactional_ids {
        let name = id.0.as_str().to_string();
        if !ctx.may(AclOperation::Describe, ResourceType::TransactionalId, &name) {
            states.push(
                TransactionState::default()
                    .with_transactional_id(id)
                    .with_error_code(ErrorCode::TransactionalIdAuthorizationFailed.code())
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1),
            );
            continue;
        }
        let op = TxnOp::Describe {
            transactional_id: name.clone(),
        };
        states.push(match ask(ctx.shard, &name, op).await {
            Ok(TxnReply::Described(Ok(meta))) => described(&meta),
            Ok(TxnReply::Described(Err(code))) | Err(code) => TransactionState::default()
                .with_transactional_id(id)
                .with_error_code(code.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1),
            Ok(_) => TransactionState::default()
                .with_transactional_id(id)
                .with_error_code(ErrorCode::UnknownServerError.code()),
        });
    }
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

/// ListTransactions: the ids this broker coordinates, filtered by state, producer id and
/// (v1+) how long they have been open.
pub async fn list_transactions(
    ctx: &RequestContext<'_>,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let known = |name: &str| crate::txn::TxnState::from_name(name).is_some();
    let unknown_state_filters: Vec<StrBytes> = request
        .state_filters
        .iter()
        .filter(|f| !known(f.as_str()))
        .cloned()
        .collect();
    let mut listed = Vec::new();
    for peer in 0..ctx.shard.count {
        match ctx.shard.call(peer, ShardOp::Txn(TxnOp::List)).await {
            Ok(ShardReply::Txn(TxnReply::Listed(Ok(ids)))) => listed.extend(ids),
            Ok(ShardReply::Txn(TxnReply::Listed(Err(code)))) => {
                return ListTransactionsResponse::default().with_error_code(code.code())
            }
            _ => {
                return ListTransactionsResponse::default()
                    .with_error_code(ErrorCode::UnknownServerError.code())
            }
        }
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let states = listed
        .into_iter()
        // Only the ids the principal may describe (Kafka's rule).
        .filter(|m| {
            ctx.can(
                AclOperation::Describe,
                ResourceType::TransactionalId,
                &m.transactional_id,
            )
        })
        .filter(|m| {
            request.state_filters.is_empty()
                || request
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == m.state.name())
        })
        .filter(|m| {
            request.producer_id_filters.is_empty()
                || request
                    .producer_id_filters
                    .contains(&ProducerId(m.producer_id))
        })
        // duration_filter (v1+): open at least that long; -1 (and v0) is no filter.
        .filter(|m| {
            request.duration_filter < 0
                || (m.start_ms >= 0 && now_ms - m.start_ms >= request.duration_filter)
        })
        .map(|m| {
            ListedState::default()
                .with_transactional_id(TransactionalId(s(m.transactional_id)))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(s(m.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown_state_filters)
        .with_transaction_states(states)
}
