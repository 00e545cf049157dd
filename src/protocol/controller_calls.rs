//! Requests between nodes and the active controller, in Kafka's own formats: BrokerRegistration
//! (62), BrokerHeartbeat (63), AllocateProducerIds (67), and client admin requests forwarded
//! from a broker that is not the active controller (KIP-590's forwarding: the client's own
//! bytes in an Envelope (58) naming its principal and address, so that the controller
//! authorizes the client, not the broker; the answer is the client's response itself, both
//! ends being Weir). They travel over the controller listener (`quorum::wire`) and are only
//! answered there.

use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::alter_partition_request::{
    PartitionData as AlterPartitionData, TopicData as AlterTopic,
};
use kafka_protocol::messages::alter_partition_response::{
    PartitionData as AlteredPartition, TopicData as AlteredTopic,
};
use kafka_protocol::messages::broker_registration_request::Listener;
use kafka_protocol::messages::describe_quorum_response::{
    PartitionData as DescribeQuorumPartition, ReplicaState, TopicData as DescribeQuorumTopic,
};
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterPartitionRequest,
    AlterPartitionResponse, ApiKey, BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerId,
    BrokerRegistrationRequest, BrokerRegistrationResponse, DescribeQuorumRequest,
    DescribeQuorumResponse, EnvelopeRequest, ProducerId, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::Response;
use crate::error_code::ErrorCode;
use crate::metadata::alter_partition::IsrChange;
use crate::metadata::liveness::Registration;
use crate::metadata::Endpoint;
use crate::shard::controller::{ControllerOp, ControllerReply, PRODUCER_ID_BLOCK};
use crate::shard::ops::{ShardOp, ShardReply};
use crate::shard::Shard;

/// APIs answered only on the controller listener, with the versions spoken.
pub const CONTROLLER_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::AlterPartition, 2, 2),
    (ApiKey::BrokerRegistration, 0, 0),
    (ApiKey::BrokerHeartbeat, 0, 0),
    (ApiKey::AllocateProducerIds, 0, 0),
];

/// Client requests that change cluster metadata: a broker that is not the active controller
/// forwards them.
pub fn is_forwarded(api_key: i16) -> bool {
    [
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::CreatePartitions,
        ApiKey::AlterConfigs,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::ElectLeaders,
        ApiKey::AlterUserScramCredentials,
        ApiKey::CreateAcls,
        ApiKey::DeleteAcls,
        ApiKey::AlterClientQuotas,
        // Only the active controller knows every voter's progress.
        ApiKey::DescribeQuorum,
    ]
    .iter()
    .any(|api| *api as i16 == api_key)
}

const ENVELOPE_VERSION: i16 = 0;

/// A client's request frame in an Envelope naming who sent it (KIP-590).
pub fn envelope(frame: &Bytes, origin: super::Origin<'_>) -> Bytes {
    let correlation_id = match frame.get(4..8) {
        Some(&[a, b, c, d]) => i32::from_be_bytes([a, b, c, d]),
        _ => 0,
    };
    let address = match origin.peer.ip() {
        std::net::IpAddr::V4(ip) => Bytes::copy_from_slice(&ip.octets()),
        std::net::IpAddr::V6(ip) => Bytes::copy_from_slice(&ip.octets()),
    };
    let body = EnvelopeRequest::default()
        .with_request_data(frame.clone())
        .with_request_principal(Some(Bytes::copy_from_slice(origin.principal.as_bytes())))
        .with_client_host_address(address);
    let mut out = BytesMut::with_capacity(frame.len() + 64);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Envelope as i16)
        .with_request_api_version(ENVELOPE_VERSION)
        .with_correlation_id(correlation_id);
    // Encoding into a growable buffer fails only on a field too long for its length prefix,
    // which the frame (bounded by socket.request.max.bytes) is not.
    let encoded = header
        .encode(
            &mut out,
            ApiKey::Envelope.request_header_version(ENVELOPE_VERSION),
        )
        .and_then(|()| body.encode(&mut out, ENVELOPE_VERSION));
    match encoded {
        Ok(()) => out.freeze(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot wrap a forwarded request in an Envelope");
            Bytes::new()
        }
    }
}

/// A forwarded request taken out of its Envelope.
pub struct Opened {
    pub request: Bytes,
    pub principal: String,
    /// The client's address, port unknown (0).
    pub client: Option<std::net::SocketAddr>,
}

/// The request in an Envelope, or `None` when the frame is not one.
pub fn open_envelope(frame: &Bytes) -> Option<Result<Opened, String>> {
    if super::api_key(frame) != ApiKey::Envelope as i16 {
        return None;
    }
    let mut bytes = frame.clone();
    let opened = (|| {
        let header = RequestHeader::decode(
            &mut bytes,
            ApiKey::Envelope.request_header_version(ENVELOPE_VERSION),
        )
        .map_err(|e| e.to_string())?;
        if header.request_api_version != ENVELOPE_VERSION {
            return Err(format!("Envelope v{}", header.request_api_version));
        }
        let envelope =
            EnvelopeRequest::decode(&mut bytes, ENVELOPE_VERSION).map_err(|e| e.to_string())?;
        let principal = envelope
            .request_principal
            .as_deref()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .ok_or("an Envelope without a principal")?;
        let ip: Option<std::net::IpAddr> = match envelope.client_host_address.len() {
            4 => <[u8; 4]>::try_from(&envelope.client_host_address[..])
                .ok()
                .map(Into::into),
            16 => <[u8; 16]>::try_from(&envelope.client_host_address[..])
                .ok()
                .map(Into::into),
            _ => None,
        };
        Ok(Opened {
            request: envelope.request_data,
            principal,
            client: ip.map(|ip| std::net::SocketAddr::new(ip, 0)),
        })
    })();
    Some(opened)
}

/// Sends a client's request frame to the active controller (via shard 0) and returns the
/// controller's response for the client; `None` when no controller could answer.
pub async fn forward(shard: &Rc<Shard>, frame: Bytes) -> Option<Response> {
    let reply = shard
        .call(0, ShardOp::Controller(ControllerOp::Forward(frame)))
        .await;
    match reply {
        Ok(ShardReply::Controller(ControllerReply::Forwarded(Ok(response)))) => {
            let mut sized = BytesMut::with_capacity(4 + response.len());
            sized.extend_from_slice(&(response.len() as i32).to_be_bytes());
            sized.extend_from_slice(&response);
            Some(Response::unthrottled(vec![sized.freeze()]))
        }
        _ => None,
    }
}

/// Sends a request this broker made (not a client's) to the active controller and decodes
/// the answer.
pub(super) async fn forwarded<R: Decodable>(
    shard: &Rc<Shard>,
    frame: Bytes,
    api: ApiKey,
    version: i16,
) -> Result<R, ErrorCode> {
    match shard
        .call(0, ShardOp::Controller(ControllerOp::Forward(frame)))
        .await
    {
        Ok(ShardReply::Controller(ControllerReply::Forwarded(Ok(response)))) => {
            response_body(api, version, &response)
        }
        Ok(ShardReply::Controller(ControllerReply::Forwarded(Err(code)))) => Err(code),
        _ => Err(ErrorCode::NotController),
    }
}

pub(super) fn request_bytes<R: Encodable>(api: ApiKey, version: i16, body: &R) -> Bytes {
    let mut buf = BytesMut::with_capacity(128);
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_client_id(Some(StrBytes::from_static_str("weir-broker")));
    // Encoding our own well-formed messages cannot fail.
    let _ = header.encode(&mut buf, api.request_header_version(version));
    let _ = body.encode(&mut buf, version);
    buf.freeze()
}

fn response_body<R: Decodable>(api: ApiKey, version: i16, bytes: &[u8]) -> Result<R, ErrorCode> {
    let mut buf = Bytes::copy_from_slice(bytes);
    ResponseHeader::decode(&mut buf, api.response_header_version(version))
        .and_then(|_| R::decode(&mut buf, version))
        .map_err(|e| {
            tracing::warn!(?api, error = %e, "malformed response from the controller");
            ErrorCode::UnknownServerError
        })
}

fn code(error: i16) -> Result<(), ErrorCode> {
    match error {
        0 => Ok(()),
        41 => Err(ErrorCode::NotController),
        77 => Err(ErrorCode::StaleBrokerEpoch),
        101 => Err(ErrorCode::DuplicateBrokerRegistration),
        104 => Err(ErrorCode::InconsistentClusterId),
        3 => Err(ErrorCode::UnknownTopicOrPartition),
        42 => Err(ErrorCode::InvalidRequest),
        74 => Err(ErrorCode::FencedLeaderEpoch),
        100 => Err(ErrorCode::UnknownTopicId),
        107 => Err(ErrorCode::IneligibleReplica),
        108 => Err(ErrorCode::InvalidUpdateVersion),
        _ => Err(ErrorCode::UnknownServerError),
    }
}

pub fn broker_registration_request(r: &Registration) -> Bytes {
    let body = BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(r.id))
        .with_cluster_id(StrBytes::from_string(r.cluster_id.clone()))
        .with_incarnation_id(r.incarnation)
        .with_listeners(
            r.endpoints
                .iter()
                .map(|e| {
                    Listener::default()
                        .with_name(StrBytes::from_string(e.name.clone()))
                        .with_host(StrBytes::from_string(e.host.clone()))
                        .with_port(e.port)
                        .with_security_protocol(e.protocol)
                })
                .collect(),
        )
        .with_rack(r.rack.clone().map(StrBytes::from_string));
    request_bytes(ApiKey::BrokerRegistration, 0, &body)
}

pub fn broker_registration_response(bytes: &[u8]) -> Result<i64, ErrorCode> {
    let r: BrokerRegistrationResponse = response_body(ApiKey::BrokerRegistration, 0, bytes)?;
    code(r.error_code)?;
    Ok(r.broker_epoch)
}

pub fn broker_heartbeat_request(id: i32, epoch: i64, offset: i64, shut_down: bool) -> Bytes {
    let body = BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(id))
        .with_broker_epoch(epoch)
        .with_current_metadata_offset(offset)
        .with_want_shut_down(shut_down);
    request_bytes(ApiKey::BrokerHeartbeat, 0, &body)
}

pub fn broker_heartbeat_response(
    bytes: &[u8],
) -> Result<crate::shard::controller::HeartbeatOutcome, ErrorCode> {
    let r: BrokerHeartbeatResponse = response_body(ApiKey::BrokerHeartbeat, 0, bytes)?;
    code(r.error_code)?;
    Ok(crate::shard::controller::HeartbeatOutcome {
        fenced: r.is_fenced,
        caught_up: r.is_caught_up,
        should_shut_down: r.should_shut_down,
    })
}

pub fn allocate_producer_ids_request(broker: i32) -> Bytes {
    let body = AllocateProducerIdsRequest::default().with_broker_id(BrokerId(broker));
    request_bytes(ApiKey::AllocateProducerIds, 0, &body)
}

pub fn allocate_producer_ids_response(bytes: &[u8]) -> Result<i64, ErrorCode> {
    let r: AllocateProducerIdsResponse = response_body(ApiKey::AllocateProducerIds, 0, bytes)?;
    code(r.error_code)?;
    Ok(r.producer_id_start.0)
}

/// AlterPartition v2 (topic ids): a leader asks the controller to change ISRs.
pub fn alter_partition_request(broker: i32, epoch: i64, changes: &[IsrChange]) -> Bytes {
    let mut topics: Vec<AlterTopic> = Vec::new();
    for change in changes {
        let partition = AlterPartitionData::default()
            .with_partition_index(change.partition)
            .with_leader_epoch(change.leader_epoch)
            .with_partition_epoch(change.partition_epoch)
            .with_new_isr(change.new_isr.iter().map(|b| BrokerId(*b)).collect());
        match topics.iter_mut().find(|t| t.topic_id == change.topic_id) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                AlterTopic::default()
                    .with_topic_id(change.topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let body = AlterPartitionRequest::default()
        .with_broker_id(BrokerId(broker))
        .with_broker_epoch(epoch)
        .with_topics(topics);
    request_bytes(ApiKey::AlterPartition, 2, &body)
}

/// Each partition's answer: (topic id, partition, error).
pub fn alter_partition_response(
    bytes: &[u8],
) -> Result<Vec<(uuid::Uuid, i32, ErrorCode)>, ErrorCode> {
    let r: AlterPartitionResponse = response_body(ApiKey::AlterPartition, 2, bytes)?;
    code(r.error_code)?;
    Ok(r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let error = match code(p.error_code) {
                    Ok(()) => ErrorCode::None,
                    Err(e) => e,
                };
                (t.topic_id, p.partition_index, error)
            })
        })
        .collect())
}

/// AlterPartition on the active controller.
pub async fn alter_partition(
    shard: &Rc<Shard>,
    r: AlterPartitionRequest,
) -> AlterPartitionResponse {
    let changes: Vec<IsrChange> = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| IsrChange {
                topic_id: t.topic_id,
                partition: p.partition_index,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr: p.new_isr.iter().map(|b| b.0).collect(),
            })
        })
        .collect();
    let outcomes = match shard
        .alter_partition(r.broker_id.0, r.broker_epoch, changes)
        .await
    {
        Ok(outcomes) => outcomes,
        Err(code) => return AlterPartitionResponse::default().with_error_code(code.code()),
    };
    let mut topics: Vec<AlteredTopic> = Vec::new();
    for (change, result) in outcomes {
        let partition = match result {
            Ok(state) => AlteredPartition::default()
                .with_partition_index(change.partition)
                .with_leader_id(BrokerId(state.leader))
                .with_leader_epoch(state.leader_epoch)
                .with_isr(state.isr.iter().map(|b| BrokerId(*b)).collect())
                .with_partition_epoch(state.partition_epoch),
            Err(code) => AlteredPartition::default()
                .with_partition_index(change.partition)
                .with_error_code(code.code()),
        };
        match topics.iter_mut().find(|t| t.topic_id == change.topic_id) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                AlteredTopic::default()
                    .with_topic_id(change.topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    AlterPartitionResponse::default().with_topics(topics)
}

/// The controller's side of the three controller APIs.
pub async fn registration(
    shard: &Rc<Shard>,
    r: BrokerRegistrationRequest,
) -> BrokerRegistrationResponse {
    let registration = Registration {
        id: r.broker_id.0,
        incarnation: r.incarnation_id,
        cluster_id: r.cluster_id.to_string(),
        endpoints: r
            .listeners
            .iter()
            .map(|l| Endpoint {
                name: l.name.to_string(),
                host: l.host.to_string(),
                port: l.port,
                protocol: l.security_protocol,
            })
            .collect(),
        rack: r.rack.map(|r| r.to_string()),
    };
    match shard.register_broker(registration).await {
        Ok(epoch) => BrokerRegistrationResponse::default().with_broker_epoch(epoch),
        Err(code) => BrokerRegistrationResponse::default()
            .with_error_code(code.code())
            .with_broker_epoch(-1),
    }
}

pub async fn heartbeat(shard: &Rc<Shard>, r: BrokerHeartbeatRequest) -> BrokerHeartbeatResponse {
    match shard
        .broker_heartbeat(
            r.broker_id.0,
            r.broker_epoch,
            r.current_metadata_offset,
            r.want_shut_down,
        )
        .await
    {
        Ok(outcome) => BrokerHeartbeatResponse::default()
            .with_is_fenced(outcome.fenced)
            .with_is_caught_up(outcome.caught_up)
            .with_should_shut_down(outcome.should_shut_down),
        Err(code) => BrokerHeartbeatResponse::default()
            .with_error_code(code.code())
            .with_is_fenced(true),
    }
}

pub async fn allocate_producer_ids(shard: &Rc<Shard>) -> AllocateProducerIdsResponse {
    match shard.allocate_producer_ids().await {
        Ok(start) => AllocateProducerIdsResponse::default()
            .with_producer_id_start(ProducerId(start))
            .with_producer_id_len(PRODUCER_ID_BLOCK as i32),
        Err(code) => AllocateProducerIdsResponse::default().with_error_code(code.code()),
    }
}

/// DescribeQuorum (55, KIP-595): the metadata quorum's leader, epoch, high watermark and
/// voters, as the partition `__cluster_metadata-0` (KRaft's name for it).
pub async fn describe_quorum(
    shard: &Rc<Shard>,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let wanted = request.topics.iter().any(|t| {
        t.topic_name.0.as_str() == METADATA_TOPIC
            && t.partitions.iter().any(|p| p.partition_index == 0)
    });
    if !wanted {
        return DescribeQuorumResponse::default()
            .with_error_code(ErrorCode::UnknownTopicOrPartition.code());
    }
    let status = match shard
        .call(0, ShardOp::Controller(ControllerOp::DescribeQuorum))
        .await
    {
        Ok(ShardReply::Controller(ControllerReply::Quorum(status))) => status,
        _ => {
            return DescribeQuorumResponse::default()
                .with_error_code(ErrorCode::NotController.code())
        }
    };
    let voters = status
        .voters
        .iter()
        .map(|v| {
            let caught_up = v.log_end >= status.high_watermark;
            ReplicaState::default()
                .with_replica_id(BrokerId(v.id as i32))
                .with_log_end_offset(v.log_end as i64)
                .with_last_fetch_timestamp(v.last_heard_ms.unwrap_or(-1))
                .with_last_caught_up_timestamp(match caught_up {
                    true => v.last_heard_ms.unwrap_or(-1),
                    false => -1,
                })
        })
        .collect();
    let partition = DescribeQuorumPartition::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(status.leader.map_or(-1, |l| l as i32)))
        .with_leader_epoch(status.term as i32)
        .with_high_watermark(status.high_watermark as i64)
        .with_current_voters(voters);
    DescribeQuorumResponse::default().with_topics(vec![DescribeQuorumTopic::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(vec![partition])])
}

/// KRaft's name for the metadata log, as DescribeQuorum reports it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
