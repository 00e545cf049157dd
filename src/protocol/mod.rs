//! Kafka request handling: which APIs and versions this broker implements, request decoding
//! (kafka-protocol crate), dispatch to one module per API family, response encoding.

mod acls;
mod admin;
mod alter_configs;
mod api_versions;
mod authorize;
mod controller_calls;
mod describe;
mod fetch;
pub mod fetch_session;
mod group;
mod metadata;
mod offsets;
mod produce;
mod producer_id;
mod quotas;

pub use authorize::may_act_on_controller;
pub use quotas::now_ms as quota_clock_ms;
mod records;
mod scram;
mod txn;

use std::rc::Rc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use glommio::Task;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::security::acl::AclOperation;
use crate::shard::ops::TopicPartition;
use crate::shard::request_time;
use crate::shard::Shard;

/// Every API this broker answers, with the versions implemented and tested. ApiVersions
/// advertises exactly these.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeQuorum, 0, 1),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::OffsetForLeaderEpoch, 0, 4),
    (ApiKey::AddPartitionsToTxn, 0, 4),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeAcls, 0, 3),
    (ApiKey::CreateAcls, 0, 3),
    (ApiKey::DeleteAcls, 0, 3),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
];

pub use controller_calls::{
    allocate_producer_ids_request, allocate_producer_ids_response, alter_partition_request,
    alter_partition_response, broker_heartbeat_request, broker_heartbeat_response,
    broker_registration_request, broker_registration_response,
};
pub use txn::{write_txn_markers_codes, write_txn_markers_request, WRITE_TXN_MARKERS_VERSION};

pub fn supported_versions(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, min, max)| (min, max))
}

/// Which listener a request came in on: the controller listener also takes the APIs between
/// nodes and the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Client,
    Controller,
}

fn versions_on(key: ApiKey, listener: Listener) -> Option<(i16, i16)> {
    let controller_only = || {
        controller_calls::CONTROLLER_APIS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|&(_, min, max)| (min, max))
    };
    match listener {
        Listener::Client => supported_versions(key),
        Listener::Controller => supported_versions(key).or_else(controller_only),
    }
}

/// Why a connection is closed instead of answered (Kafka closes the connection for requests it
/// cannot parse: there is no response to put an error code in).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("request shorter than a request header ({0} bytes)")]
    TooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} v{version} is not supported (supported: {supported})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        supported: String,
    },
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("cannot encode the {api:?} v{version} response: {reason}")]
    Encode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
}

/// A response ready for the socket: its parts, written in order, size prefix included (none
/// for an acks=0 produce, which is only throttled).
pub struct Response {
    pub parts: Vec<Bytes>,
    /// A client over its quota (KIP-219): how long the connection reads no further request.
    pub throttle: Option<Throttle>,
}

impl Response {
    pub fn unthrottled(parts: Vec<Bytes>) -> Response {
        Response {
            parts,
            throttle: None,
        }
    }
}

/// How a client over its quota is held back (KIP-219): the connection is muted (no request
/// read) for `ms` after the response is sent; a client too old to throttle itself (Produce
/// before v6, Fetch before v8) also gets its response `ms` late, as Kafka delays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub ms: u64,
    pub delay_response: bool,
}

/// Items grouped by topic, topics in first-seen order (how Kafka's responses list them).
fn by_topic<T>(items: impl IntoIterator<Item = (String, T)>) -> Vec<(String, Vec<T>)> {
    let mut topics: Vec<(String, Vec<T>)> = Vec::new();
    for (topic, item) in items {
        match topics.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, list)) => list.push(item),
            None => topics.push((topic, vec![item])),
        }
    }
    topics
}

/// A request's partitions, each with its operation under way, grouped by topic in request
/// order (Kafka answers in that order).
type PerPartition<T> = Vec<(TopicName, Vec<(i32, Task<T>)>)>;

/// Starts `run` for every partition of a request at once (each runs as its own task, so
/// partitions on different shards proceed in parallel) and returns the tasks in request order.
fn start_per_partition<P, T, Fut>(
    shard: &Rc<Shard>,
    topics: impl IntoIterator<Item = (TopicName, Vec<P>)>,
    index: impl Fn(&P) -> i32,
    run: impl Fn(Rc<Shard>, TopicPartition, P) -> Fut,
) -> PerPartition<T>
where
    Fut: std::future::Future<Output = T> + 'static,
    T: 'static,
{
    topics
        .into_iter()
        .map(|(name, partitions)| {
            let tasks = partitions
                .into_iter()
                .map(|p| {
                    let tp = TopicPartition {
                        topic: name.0.as_str().to_string(),
                        partition: index(&p),
                    };
                    let partition = tp.partition;
                    // A timed request's per-partition work counts as its time.
                    let work =
                        request_time::timed(request_time::polling(), run(shard.clone(), tp, p));
                    (partition, glommio::spawn_local(work))
                })
                .collect();
            (name, tasks)
        })
        .collect()
}

/// What a handler produced: nothing (acks=0), a typed response the crate encodes, or a
/// hand-framed body (Fetch, so record bytes are not copied).
pub enum Reply {
    Nothing,
    Typed(Box<ResponseKind>),
    Framed(Vec<Bytes>),
}

/// The request header fields a handler may need.
pub struct RequestContext<'a> {
    pub shard: &'a Rc<Shard>,
    pub api_version: i16,
    pub client_id: Option<&'a str>,
    pub peer: std::net::SocketAddr,
    /// The name of the listener the request came in on: Metadata, FindCoordinator and
    /// DescribeCluster answer with the brokers' endpoints on it, as Kafka does.
    pub listener: &'a str,
    /// Who asks: `User:NAME` (SASL, a TLS certificate), `User:ANONYMOUS`, or
    /// [`INTER_BROKER`] for a call of another node of the cluster.
    pub principal: &'a str,
    /// The request's size on the wire (a produce quota counts it, as Kafka's does).
    pub request_bytes: usize,
    /// Set by a handler whose client is over its quota (`quotas::QuotaUse::record`).
    pub throttle_ms: std::cell::Cell<u64>,
    /// The client's `request_percentage` quota this request is timed for, if any.
    pub request_quota: Option<quotas::RequestQuota>,
}

impl<'a> RequestContext<'a> {
    /// The context of a decoded request, before any quota is looked at.
    fn new(
        shard: &'a Rc<Shard>,
        origin: Origin<'a>,
        (version, header): (i16, &'a RequestHeader),
        request_bytes: usize,
    ) -> Self {
        RequestContext {
            shard,
            api_version: version,
            client_id: header.client_id.as_ref().map(|s| s.as_str()),
            peer: origin.peer,
            listener: origin.listener,
            principal: origin.principal,
            request_bytes,
            throttle_ms: std::cell::Cell::new(0),
            request_quota: None,
        }
    }
}

/// Where a request comes from: what the connection knows of its client.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub peer: std::net::SocketAddr,
    /// The client listener's name.
    pub listener: &'a str,
    pub principal: &'a str,
}

/// The principal of a request another node sends on the controller listener without an
/// Envelope (BrokerRegistration, AlterPartition, a broker's own CreateTopics): trusted, since
/// the listener admits only nodes (with an authorizer, principals holding CLUSTER_ACTION,
/// `may_act_on_controller`). No client principal has this type.
pub const INTER_BROKER: &str = "Broker:cluster";

/// Whether the connection may read the next request before this one is answered: Produce,
/// whose appends start in order on the handler's first poll and whose acks are awaited
/// together. Everything else (group and admin requests in particular) is handled one at a
/// time, in order, as Kafka does.
pub fn is_pipelined(frame: &[u8]) -> bool {
    api_key(frame) == ApiKey::Produce as i16
}

/// The request's API key (-1 for a frame too short to hold one).
pub fn api_key(frame: &[u8]) -> i16 {
    match frame {
        [high, low, ..] => i16::from_be_bytes([*high, *low]),
        _ => -1,
    }
}

/// A request frame decoded: what `dispatch` works on.
pub struct DecodedRequest {
    pub api: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub header: RequestHeader,
    pub request: RequestKind,
}

/// What a frame turned out to be before any broker state is touched.
pub enum Decoded {
    Request(Box<DecodedRequest>),
    /// Answered without dispatch (KIP-511: a too-new ApiVersions).
    Answer(Response),
}

/// Decodes one request frame (without its size prefix): header, API and version checks, and
/// the request body. Any bytes give a request, an answer, or an error that closes the
/// connection (fuzzed in `fuzz/fuzz_targets/request_frame.rs`).
pub fn decode_request(frame: Bytes) -> Result<Decoded, RequestError> {
    decode_request_on(frame, Listener::Client)
}

fn decode_request_on(mut frame: Bytes, listener: Listener) -> Result<Decoded, RequestError> {
    if frame.len() < 8 {
        return Err(RequestError::TooShort(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(raw_key).map_err(|()| RequestError::UnknownApiKey(raw_key))?;
    let Some((min, max)) = versions_on(api, listener) else {
        return Err(RequestError::UnknownApiKey(raw_key));
    };
    if api == ApiKey::ApiVersions && version > max {
        // KIP-511: answer a too-new ApiVersions with a v0 response carrying UNSUPPORTED_VERSION
        // and our versions, so that the client retries with one we speak.
        let body = api_versions::unsupported_version_response();
        return encode_typed(api, 0, correlation_id, ResponseKind::ApiVersions(body))
            .map(Decoded::Answer);
    }
    if version < min || version > max {
        return Err(RequestError::UnsupportedVersion {
            api,
            version,
            supported: format!("v{min}-v{max}"),
        });
    }
    let malformed = |reason: String| RequestError::Malformed {
        api,
        version,
        reason,
    };
    let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
        .map_err(|e| malformed(format!("header: {e}")))?;
    let request =
        RequestKind::decode(api, &mut frame, version).map_err(|e| malformed(e.to_string()))?;
    Ok(Decoded::Request(Box::new(DecodedRequest {
        api,
        version,
        correlation_id,
        header,
        request,
    })))
}

/// Handles one request frame (without its size prefix).
pub async fn handle(
    shard: &Rc<Shard>,
    origin: Origin<'_>,
    frame: Bytes,
) -> Result<Option<Response>, RequestError> {
    if controller_calls::is_forwarded(api_key(&frame))
        && !crate::shard::controller::is_active_controller()
    {
        // KIP-590: the request goes to the active controller in an Envelope naming the
        // client's principal and address, and is authorized there.
        if let Some(response) = forward_for_client(shard, origin, &frame).await? {
            return Ok(Some(response));
        }
        // No controller answered: handled here, which answers NOT_CONTROLLER so the client
        // refreshes its metadata and retries.
    }
    handle_on(shard, origin, frame, Listener::Client).await
}

/// A client's request forwarded to the active controller (none when no controller answered).
/// A client under a request quota is measured and throttled here, by the broker it reached,
/// as Kafka's broker sets the throttle of a forwarded response (`sendForwardedResponse`): the
/// time is this broker's (the controller's work is not counted, as in Kafka), and a throttled
/// response is decoded to carry `throttle_time_ms`.
async fn forward_for_client(
    shard: &Rc<Shard>,
    origin: Origin<'_>,
    frame: &Bytes,
) -> Result<Option<Response>, RequestError> {
    let envelope = controller_calls::envelope(frame, origin);
    if !shard.has_client_quotas() {
        return Ok(controller_calls::forward(shard, envelope).await);
    }
    let decoding_began = Instant::now();
    let decoded = match decode_request_on(frame.clone(), Listener::Client)? {
        Decoded::Request(decoded) => *decoded,
        Decoded::Answer(response) => return Ok(Some(response)),
    };
    let mut ctx = RequestContext::new(
        shard,
        origin,
        (decoded.version, &decoded.header),
        frame.len(),
    );
    ctx.request_quota = ctx.request_quota(&decoded.request, Some(decoding_began));
    let clock = ctx.request_quota.as_ref().map(quotas::RequestQuota::clock);
    let forwarded = request_time::timed(clock, controller_calls::forward(shard, envelope)).await;
    let Some(response) = forwarded else {
        return Ok(None);
    };
    let Some(throttle) = quotas::response_throttle(&ctx, decoded.api).await else {
        return Ok(Some(response));
    };
    let (api, version) = (decoded.api, decoded.version);
    let joined = Bytes::from(response.parts.concat());
    let mut body = joined.slice(joined.len().min(4)..);
    let reencoded = ResponseHeader::decode(&mut body, api.response_header_version(version))
        .and_then(|_| ResponseKind::decode(api, &mut body, version))
        .map_err(|e| e.to_string())
        .and_then(|mut kind| {
            quotas::set_throttle_time(&mut kind, throttle.ms);
            encode_typed(api, version, decoded.correlation_id, kind).map_err(|e| e.to_string())
        });
    let response = match reencoded {
        Ok(reencoded) => reencoded,
        Err(reason) => {
            // The client is still muted; only the field is missing.
            tracing::warn!(?api, version, %reason, "a forwarded response could not carry its throttle");
            Response::unthrottled(vec![joined])
        }
    };
    Ok(Some(Response {
        throttle: Some(throttle),
        ..response
    }))
}

/// A call on the controller listener (a request from another node): its response without
/// the size prefix, or `None` when this node is not the active controller or the request
/// cannot be parsed.
pub async fn handle_call(
    shard: &Rc<Shard>,
    peer: std::net::SocketAddr,
    frame: Bytes,
) -> Option<Bytes> {
    if !crate::shard::controller::is_active_controller() {
        return None;
    }
    let listener = shard.config.inter_broker_listener.as_str();
    let (frame, principal, peer) = match controller_calls::open_envelope(&frame) {
        Some(Ok(opened)) => (
            opened.request,
            std::borrow::Cow::Owned(opened.principal),
            opened.client.unwrap_or(peer),
        ),
        Some(Err(e)) => {
            tracing::warn!(%peer, error = %e, "controller call refused: bad Envelope");
            return None;
        }
        None => (frame, std::borrow::Cow::Borrowed(INTER_BROKER), peer),
    };
    let origin = Origin {
        peer,
        listener,
        principal: &principal,
    };
    match handle_on(shard, origin, frame, Listener::Controller).await {
        Ok(Some(response)) => {
            let mut joined = bytes::BytesMut::new();
            for part in &response.parts {
                joined.extend_from_slice(part);
            }
            Some(joined.freeze().slice(4..))
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "controller call refused");
            None
        }
    }
}

async fn handle_on(
    shard: &Rc<Shard>,
    origin: Origin<'_>,
    frame: Bytes,
    listener: Listener,
) -> Result<Option<Response>, RequestError> {
    let request_bytes = frame.len();
    // A request's decoding and its response's encoding count toward its client's request
    // quota, as Kafka counts the network thread's time on a request (KIP-124). Timed only
    // while the cluster has quotas.
    let decoding_began = shard.has_client_quotas().then(Instant::now);
    let decoded = match decode_request_on(frame, listener)? {
        Decoded::Request(decoded) => *decoded,
        Decoded::Answer(response) => return Ok(Some(response)),
    };
    let DecodedRequest {
        api,
        version,
        correlation_id,
        header,
        request,
    } = decoded;
    let mut ctx = RequestContext::new(shard, origin, (version, &header), request_bytes);
    // A request forwarded to the controller was measured by the broker its client reached,
    // as Kafka throttles only requests that are not forwarded.
    if listener == Listener::Client {
        ctx.request_quota = ctx.request_quota(&request, decoding_began);
    }
    let clock = ctx.request_quota.as_ref().map(quotas::RequestQuota::clock);
    let reply = request_time::timed(clock, dispatch(&ctx, request))
        .await
        .map_err(|reason| RequestError::Malformed {
            api,
            version,
            reason,
        })?;
    let throttle = quotas::response_throttle(&ctx, api).await;
    let encoding = ctx
        .request_quota
        .as_ref()
        .map(|quota| (quota, Instant::now()));
    let response = match reply {
        Reply::Nothing => match throttle {
            // acks=0: nothing is sent, but the connection is still muted.
            Some(_) => Response::unthrottled(Vec::new()),
            None => return Ok(None),
        },
        Reply::Typed(mut body) => {
            if let Some(throttle) = throttle {
                quotas::set_throttle_time(&mut body, throttle.ms);
            }
            encode_typed(api, version, correlation_id, *body)?
        }
        Reply::Framed(body) => frame_parts(api, version, correlation_id, body),
    };
    if let Some((quota, began)) = encoding {
        quota.record_after_response(shard, began.elapsed());
    }
    Ok(Some(Response {
        throttle,
        ..response
    }))
}

async fn dispatch(ctx: &RequestContext<'_>, request: RequestKind) -> Result<Reply, String> {
    let typed = |kind: ResponseKind| Reply::Typed(Box::new(kind));
    Ok(match request {
        RequestKind::ApiVersions(_) => typed(ResponseKind::ApiVersions(api_versions::response())),
        RequestKind::Metadata(req) => {
            typed(ResponseKind::Metadata(metadata::handle(ctx, req).await))
        }
        RequestKind::Produce(req) => match produce::handle(ctx, req).await {
            Some(response) => typed(ResponseKind::Produce(response)),
            None => Reply::Nothing,
        },
        RequestKind::Fetch(req) => Reply::Framed(fetch::handle(ctx, req).await),
        RequestKind::ListOffsets(req) => {
            typed(ResponseKind::ListOffsets(offsets::handle(ctx, req).await))
        }
        RequestKind::OffsetForLeaderEpoch(req) => typed(ResponseKind::OffsetForLeaderEpoch(
            offsets::offset_for_leader_epoch(ctx, req).await,
        )),
        RequestKind::CreateTopics(req) => typed(ResponseKind::CreateTopics(
            admin::create_topics(ctx, req).await,
        )),
        RequestKind::DeleteTopics(req) => typed(ResponseKind::DeleteTopics(
            admin::delete_topics(ctx, req).await,
        )),
        RequestKind::CreatePartitions(req) => typed(ResponseKind::CreatePartitions(
            admin::create_partitions(ctx, req).await,
        )),
        RequestKind::DescribeConfigs(req) => typed(ResponseKind::DescribeConfigs(
            describe::describe_configs(ctx, req),
        )),
        RequestKind::DescribeCluster(req) => typed(ResponseKind::DescribeCluster(
            describe::describe_cluster(ctx, req),
        )),
        RequestKind::InitProducerId(req) => typed(ResponseKind::InitProducerId(
            producer_id::handle(ctx, req).await,
        )),
        RequestKind::FindCoordinator(req) => typed(ResponseKind::FindCoordinator(
            group::find_coordinator(ctx, req),
        )),
        RequestKind::JoinGroup(req) => {
            typed(ResponseKind::JoinGroup(group::join_group(ctx, req).await))
        }
        RequestKind::SyncGroup(req) => {
            typed(ResponseKind::SyncGroup(group::sync_group(ctx, req).await))
        }
        RequestKind::Heartbeat(req) => {
            typed(ResponseKind::Heartbeat(group::heartbeat(ctx, req).await))
        }
        RequestKind::LeaveGroup(req) => {
            typed(ResponseKind::LeaveGroup(group::leave_group(ctx, req).await))
        }
        RequestKind::OffsetCommit(req) => typed(ResponseKind::OffsetCommit(
            group::offset_commit(ctx, req).await,
        )),
        RequestKind::OffsetFetch(req) => typed(ResponseKind::OffsetFetch(
            group::offset_fetch(ctx, req).await,
        )),
        RequestKind::DescribeGroups(req) => typed(ResponseKind::DescribeGroups(
            group::describe_groups(ctx, req).await,
        )),
        RequestKind::ListGroups(req) => {
            typed(ResponseKind::ListGroups(group::list_groups(ctx, req).await))
        }
        RequestKind::DeleteGroups(req) => typed(ResponseKind::DeleteGroups(
            group::delete_groups(ctx, req).await,
        )),
        RequestKind::OffsetDelete(req) => typed(ResponseKind::OffsetDelete(
            group::offset_delete(ctx, req).await,
        )),
        RequestKind::DeleteRecords(req) => typed(ResponseKind::DeleteRecords(
            records::delete_records(ctx, req).await,
        )),
        RequestKind::AlterConfigs(req) => typed(ResponseKind::AlterConfigs(
            alter_configs::alter_configs(ctx, req).await,
        )),
        RequestKind::IncrementalAlterConfigs(req) => typed(ResponseKind::IncrementalAlterConfigs(
            alter_configs::incremental_alter_configs(ctx, req).await,
        )),
        RequestKind::ElectLeaders(req) => typed(ResponseKind::ElectLeaders(
            admin::elect_leaders(ctx, req).await,
        )),
        RequestKind::DescribeQuorum(_) if !ctx.may_cluster(AclOperation::Describe) => {
            typed(ResponseKind::DescribeQuorum(
                kafka_protocol::messages::DescribeQuorumResponse::default().with_error_code(
                    crate::error_code::ErrorCode::ClusterAuthorizationFailed.code(),
                ),
            ))
        }
        RequestKind::DescribeQuorum(req) => typed(ResponseKind::DescribeQuorum(
            controller_calls::describe_quorum(ctx.shard, req).await,
        )),
        RequestKind::CreateAcls(req) => {
            typed(ResponseKind::CreateAcls(acls::create(ctx, req).await))
        }
        RequestKind::DescribeAcls(req) => {
            typed(ResponseKind::DescribeAcls(acls::describe(ctx, req)))
        }
        RequestKind::DeleteAcls(req) => {
            typed(ResponseKind::DeleteAcls(acls::delete(ctx, req).await))
        }
        RequestKind::DescribeClientQuotas(req) => typed(ResponseKind::DescribeClientQuotas(
            quotas::describe(ctx, req),
        )),
        RequestKind::AlterClientQuotas(req) => typed(ResponseKind::AlterClientQuotas(
            quotas::alter(ctx, req).await,
        )),
        RequestKind::AlterPartition(req) => typed(ResponseKind::AlterPartition(
            controller_calls::alter_partition(ctx.shard, req).await,
        )),
        RequestKind::BrokerRegistration(req) => typed(ResponseKind::BrokerRegistration(
            controller_calls::registration(ctx.shard, req).await,
        )),
        RequestKind::BrokerHeartbeat(req) => typed(ResponseKind::BrokerHeartbeat(
            controller_calls::heartbeat(ctx.shard, req).await,
        )),
        RequestKind::AddPartitionsToTxn(req) => typed(ResponseKind::AddPartitionsToTxn(
            txn::add_partitions_to_txn(ctx, req).await,
        )),
        RequestKind::AddOffsetsToTxn(req) => typed(ResponseKind::AddOffsetsToTxn(
            txn::add_offsets_to_txn(ctx, req).await,
        )),
        RequestKind::EndTxn(req) => typed(ResponseKind::EndTxn(txn::end_txn(ctx, req).await)),
        RequestKind::WriteTxnMarkers(req) => typed(ResponseKind::WriteTxnMarkers(
            txn::write_txn_markers(ctx, req).await,
        )),
        RequestKind::TxnOffsetCommit(req) => typed(ResponseKind::TxnOffsetCommit(
            txn::txn_offset_commit(ctx, req).await,
        )),
        RequestKind::DescribeTransactions(req) => typed(ResponseKind::DescribeTransactions(
            txn::describe_transactions(ctx, req).await,
        )),
        RequestKind::ListTransactions(req) => typed(ResponseKind::ListTransactions(
            txn::list_transactions(ctx, req).await,
        )),
        RequestKind::AllocateProducerIds(_) => typed(ResponseKind::AllocateProducerIds(
            controller_calls::allocate_producer_ids(ctx.shard).await,
        )),
        RequestKind::DescribeUserScramCredentials(req) => typed(
            ResponseKind::DescribeUserScramCredentials(scram::describe(ctx, req)),
        ),
        RequestKind::AlterUserScramCredentials(req) => typed(
            ResponseKind::AlterUserScramCredentials(scram::alter(ctx, req).await),
        ),
        // Authentication happens before any request is dispatched (`net::authenticate`);
        // afterwards, or on a listener without SASL, Kafka answers ILLEGAL_SASL_STATE.
        RequestKind::SaslHandshake(_) => typed(ResponseKind::SaslHandshake(
            kafka_protocol::messages::SaslHandshakeResponse::default()
                .with_error_code(crate::error_code::ErrorCode::IllegalSaslState.code()),
        )),
        RequestKind::SaslAuthenticate(_) => typed(ResponseKind::SaslAuthenticate(
            kafka_protocol::messages::SaslAuthenticateResponse::default()
                .with_error_code(crate::error_code::ErrorCode::IllegalSaslState.code())
                .with_error_message(Some(kafka_protocol::protocol::StrBytes::from_static_str(
                    "the connection is not in a SASL exchange",
                ))),
        )),
        other => return Err(format!("no handler for {other:?}")),
    })
}

pub(crate) fn encode_typed(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: ResponseKind,
) -> Result<Response, RequestError> {
    let encode_error = |reason: String| RequestError::Encode {
        api,
        version,
        reason,
    };
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0); // size, patched below
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api.response_header_version(version))
        .map_err(|e| encode_error(e.to_string()))?;
    body.encode(&mut buf, version)
        .map_err(|e| encode_error(e.to_string()))?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(Response::unthrottled(vec![buf.freeze()]))
}

/// Size prefix and response header in front of a hand-framed body.
fn frame_parts(api: ApiKey, version: i16, correlation_id: i32, body: Vec<Bytes>) -> Response {
    let flexible_header = api.response_header_version(version) >= 1;
    let header_len = if flexible_header { 5 } else { 4 };
    let body_len: usize = body.iter().map(Bytes::len).sum();
    let mut head = BytesMut::with_capacity(4 + header_len);
    head.put_i32((header_len + body_len) as i32);
    head.put_i32(correlation_id);
    if flexible_header {
        head.put_u8(0); // no tagged fields
    }
    let mut parts = Vec::with_capacity(body.len() + 1);
    parts.push(head.freeze());
    parts.extend(body);
    Response::unthrottled(parts)
}
