//! Client quotas on the wire: produce and fetch byte rates (KIP-13) and request time (KIP-124)
//! recorded per client and throttled as KIP-219 says (the response carries `throttle_time_ms`
//! and the connection reads no further request until it has passed), DescribeClientQuotas
//! (48) answered from this broker's metadata, and AlterClientQuotas (49) decided by the active
//! controller (forwarded in an Envelope), both KIP-546. Each quota entity's rate is measured on
//! one shard (chosen by the entity), which every shard's connections of its clients report to:
//! the quota holds per broker, as Kafka's does.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_client_quotas_response::{
    EntityData as AlteredEntity, EntryData as AlteredEntry,
};
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, ApiKey, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

use super::authorize::AUTHORIZATION_FAILED;
use super::{RequestContext, Throttle, INTER_BROKER};
use crate::error_code::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::quota::{
    decide_alterations, entity_from_wire, entity_to_wire, quota_for, QuotaAlteration, QuotaFilter,
    QuotaKind, SensorKey,
};
use crate::shard::controller::{ControllerOp, ControllerReply};
use crate::shard::ops::{ShardOp, ShardReply};
use crate::shard::request_time::RequestClock;
use crate::shard::Shard;

/// The quota a request's client is measured against.
pub struct QuotaUse {
    key: SensorKey,
    /// Bytes per second, or a percentage (`request_percentage`).
    limit: f64,
}

/// A request measured against its client's `request_percentage` quota (KIP-124): its clock,
/// and whether its time has been recorded (once, when its response is made).
pub struct RequestQuota {
    quota: QuotaUse,
    clock: Rc<RequestClock>,
    recorded: Cell<bool>,
}

impl RequestQuota {
    pub fn clock(&self) -> Rc<RequestClock> {
        self.clock.clone()
    }

    /// Records `time` spent on the request after its throttle was decided (encoding its
    /// response) without throttling it: it counts toward the client's next requests, as
    /// Kafka records a request's network-thread time when its response is sent
    /// (`recordNetworkThreadTimeCallback`, `recordNoThrottle`). Not awaited: the response
    /// does not wait for the shard that keeps the entity's rate.
    pub fn record_after_response(&self, shard: &Rc<Shard>, time: Duration) {
        shard.metrics.request_time_measured(time);
        let op = ShardOp::RecordQuota {
            key: self.quota.key.clone(),
            quota: self.quota.limit,
            amount: time.as_secs_f64() * 100.0,
        };
        let owner = self.quota.key.owner(shard.count);
        let shard = shard.clone();
        glommio::spawn_local(async move {
            // The throttle it answers is the next request's business; an error means the
            // broker is stopping.
            let _ = shard.call(owner, op).await;
        })
        .detach();
    }
}

impl RequestContext<'_> {
    /// The quota of `kind` that applies to this request's client (none for the cluster's own
    /// nodes, and none while the cluster has no quotas).
    pub fn quota(&self, kind: QuotaKind) -> Option<QuotaUse> {
        if self.principal == INTER_BROKER {
            return None;
        }
        let meta = self.shard.meta();
        if meta.client_quotas.is_empty() {
            return None;
        }
        // Kafka's user entity is the principal's name: `alice` for User:alice.
        let user = self
            .principal
            .split_once(':')
            .map_or(self.principal, |(_, name)| name);
        let (key, limit) = quota_for(
            &meta.client_quotas,
            kind,
            user,
            self.client_id.unwrap_or(""),
        )?;
        Some(QuotaUse { key, limit })
    }

    /// The `request_percentage` quota this request is measured against, if any: none for a
    /// cluster action of a principal allowed CLUSTER_ACTION (a follower's fetch, transaction
    /// markers), which Kafka exempts, while an unauthorized one is measured (KAFKA-18764).
    /// Its time starts with its decoding, from `decoding_began` (Kafka counts the network
    /// thread's time on a request too).
    pub fn request_quota(
        &self,
        request: &RequestKind,
        decoding_began: Option<Instant>,
    ) -> Option<RequestQuota> {
        let cluster_action = match request {
            RequestKind::Fetch(fetch) => fetch.replica_id.0 >= 0,
            RequestKind::WriteTxnMarkers(_)
            | RequestKind::AlterPartition(_)
            | RequestKind::BrokerRegistration(_)
            | RequestKind::BrokerHeartbeat(_)
            | RequestKind::AllocateProducerIds(_) => true,
            _ => false,
        };
        let quota = self.quota(QuotaKind::Request)?;
        if cluster_action && self.may_cluster(AclOperation::ClusterAction) {
            return None;
        }
        let clock = Rc::new(RequestClock::default());
        if let Some(began) = decoding_began {
            clock.add(began.elapsed());
        }
        Some(RequestQuota {
            quota,
            clock,
            recorded: Cell::new(false),
        })
    }

    /// Records the request's time so far against its `request_percentage` quota, once, and
    /// answers the throttle in ms (Kafka's `maybeRecordAndGetThrottleTimeMs` with
    /// `nanosToPercentage`: a second's time is 100). Called when the response is made; Fetch
    /// calls it earlier, as its response is empty when throttled.
    pub async fn record_request_time(&self) -> i32 {
        let Some(request) = &self.request_quota else {
            return 0;
        };
        if request.recorded.replace(true) {
            return 0;
        }
        let spent = request.clock.spent();
        self.shard.metrics.request_time_measured(spent);
        request
            .quota
            .record_amount(self, spent.as_secs_f64() * 100.0)
            .await
    }
}

impl QuotaUse {
    /// Records `bytes` and answers the throttle in ms for the response's `throttle_time_ms`,
    /// which the connection then applies.
    pub async fn record(&self, ctx: &RequestContext<'_>, bytes: usize) -> i32 {
        self.record_amount(ctx, bytes as f64).await
    }

    async fn record_amount(&self, ctx: &RequestContext<'_>, amount: f64) -> i32 {
        let throttle = self.report(ctx, amount).await;
        if throttle > 0 {
            tracing::debug!(peer = %ctx.peer, principal = ctx.principal, client_id = ctx.client_id.unwrap_or(""), quota = self.key.kind.key(), throttle_ms = throttle, "client over its quota");
        }
        let throttle = i32::try_from(throttle).unwrap_or(i32::MAX);
        ctx.throttle_ms
            .set(ctx.throttle_ms.get().max(throttle as u64));
        throttle
    }

    /// Takes back bytes recorded for a response that is not sent (a throttled fetch answers
    /// with no records, as Kafka's does).
    pub async fn unrecord(&self, ctx: &RequestContext<'_>, bytes: usize) {
        self.report(ctx, -(bytes as f64)).await;
    }

    /// Records on the shard that measures this quota's entity; its throttle in ms (none when
    /// that shard cannot be reached: the broker is stopping).
    async fn report(&self, ctx: &RequestContext<'_>, amount: f64) -> u64 {
        let op = ShardOp::RecordQuota {
            key: self.key.clone(),
            quota: self.limit,
            amount,
        };
        match ctx.shard.call(self.key.owner(ctx.shard.count), op).await {
            Ok(ShardReply::Throttle(ms)) => ms,
            _ => 0,
        }
    }

    /// The most a fetch may return at once under this quota (Kafka caps a consumer's fetch at
    /// the quota over the window's full samples).
    pub fn max_fetch_bytes(&self, ctx: &RequestContext<'_>) -> usize {
        let window = ctx.shard.quotas.borrow().window();
        (window.max_bytes_in_window(self.limit) as usize).max(1)
    }
}

/// Milliseconds on the process's monotonic clock: what quota windows are measured on.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The throttle of a request whose response is ready: its request time recorded (if a request
/// quota applies and it is not recorded yet), the largest throttle its quotas called for, and
/// how the connection applies it: a client of a version that throttles itself (KIP-219) is
/// answered at once, an older one late. A throttled response is counted.
pub async fn response_throttle(ctx: &RequestContext<'_>, api: ApiKey) -> Option<Throttle> {
    ctx.record_request_time().await;
    let ms = ctx.throttle_ms.get();
    if ms == 0 {
        return None;
    }
    ctx.shard.metrics.request_throttled();
    Some(Throttle {
        ms,
        delay_response: !client_throttles(api, ctx.api_version),
    })
}

/// Whether a client of this version throttles itself after a response with a throttle (Kafka's
/// `AbstractResponse.shouldClientThrottle`): each API's version that KIP-219 bumped, and every
/// version of the APIs that came after it.
fn client_throttles(api: ApiKey, version: i16) -> bool {
    let first = match api {
        ApiKey::Produce => 6,
        ApiKey::Fetch => 8,
        ApiKey::ListOffsets | ApiKey::JoinGroup | ApiKey::CreateTopics => 3,
        ApiKey::Metadata => 6,
        ApiKey::OffsetCommit | ApiKey::OffsetFetch => 4,
        ApiKey::FindCoordinator
        | ApiKey::Heartbeat
        | ApiKey::LeaveGroup
        | ApiKey::SyncGroup
        | ApiKey::DescribeGroups
        | ApiKey::ListGroups
        | ApiKey::ApiVersions
        | ApiKey::DeleteTopics
        | ApiKey::DescribeConfigs
        | ApiKey::OffsetForLeaderEpoch => 2,
        ApiKey::DeleteRecords
        | ApiKey::InitProducerId
        | ApiKey::AddPartitionsToTxn
        | ApiKey::AddOffsetsToTxn
        | ApiKey::EndTxn
        | ApiKey::TxnOffsetCommit
        | ApiKey::DescribeAcls
        | ApiKey::CreateAcls
        | ApiKey::DeleteAcls
        | ApiKey::AlterConfigs
        | ApiKey::CreatePartitions
        | ApiKey::DeleteGroups
        | ApiKey::SaslAuthenticate => 1,
        _ => 0,
    };
    version >= first
}

/// Sets a response's `throttle_time_ms` (a larger one its handler set stays); a response
/// without the field (SaslHandshake, WriteTxnMarkers, DescribeQuorum) is left as it is, and
/// an old version without it is encoded without it (the connection is still muted).
pub fn set_throttle_time(body: &mut ResponseKind, ms: u64) {
    let ms = i32::try_from(ms).unwrap_or(i32::MAX);
    macro_rules! throttle_time_of {
        ($($api:ident),* $(,)?) => {
            match body {
                $(ResponseKind::$api(response) => {
                    response.throttle_time_ms = response.throttle_time_ms.max(ms)
                })*
                _ => {}
            }
        };
    }
    throttle_time_of!(
        ApiVersions,
        Metadata,
        Produce,
        ListOffsets,
        OffsetForLeaderEpoch,
        CreateTopics,
        DeleteTopics,
        CreatePartitions,
        DescribeConfigs,
        DescribeCluster,
        InitProducerId,
        FindCoordinator,
        JoinGroup,
        SyncGroup,
        Heartbeat,
        LeaveGroup,
        OffsetCommit,
        OffsetFetch,
        DescribeGroups,
        ListGroups,
        DeleteGroups,
        OffsetDelete,
        DeleteRecords,
        AlterConfigs,
        IncrementalAlterConfigs,
        ElectLeaders,
        CreateAcls,
        DescribeAcls,
        DeleteAcls,
        DescribeClientQuotas,
        AlterClientQuotas,
        AlterPartition,
        BrokerRegistration,
        BrokerHeartbeat,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        TxnOffsetCommit,
        DescribeTransactions,
        ListTransactions,
        AllocateProducerIds,
        DescribeUserScramCredentials,
        AlterUserScramCredentials,
    );
}

pub fn describe(
    ctx: &RequestContext<'_>,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let refused = |code: ErrorCode, message: String| {
        DescribeClientQuotasResponse::default()
            .with_error_code(code.code())
            .with_error_message(Some(StrBytes::from_string(message)))
    };
    if !ctx.may_cluster(AclOperation::DescribeConfigs) {
        return refused(
            ErrorCode::ClusterAuthorizationFailed,
            AUTHORIZATION_FAILED.to_string(),
        );
    }
    let components = request
        .components
        .iter()
        .map(|c| (c.entity_type.as_str(), c.match_type, c._match.as_deref()));
    let filter = match QuotaFilter::from_wire(components, request.strict) {
        Ok(filter) => filter,
        Err(e) => return refused(e.code(), e.to_string()),
    };
    let meta = ctx.shard.meta();
    let entries = meta
        .client_quotas
        .iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity_to_wire(entity)
                        .into_iter()
                        .map(|(entity_type, name)| {
                            EntityData::default()
                                .with_entity_type(StrBytes::from_static_str(entity_type))
                                .with_entity_name(name.map(|n| StrBytes::from_string(n.into())))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .iter()
                        .map(|(kind, value)| {
                            ValueData::default()
                                .with_key(StrBytes::from_static_str(kind.key()))
                                .with_value(value.0)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeClientQuotasResponse::default().with_entries(Some(entries))
}

pub async fn alter(
    ctx: &RequestContext<'_>,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let alterations: Vec<QuotaAlteration> = request
        .entries
        .iter()
        .map(|entry| QuotaAlteration {
            entity: entity_from_wire(
                entry
                    .entity
                    .iter()
                    .map(|e| (e.entity_type.as_str(), e.entity_name.as_deref())),
            ),
            ops: entry
                .ops
                .iter()
                .map(|op| (op.key.to_string(), (!op.remove).then_some(op.value)))
                .collect(),
        })
        .collect();
    let answer = |results: Vec<Result<(), (ErrorCode, String)>>| {
        let entries = request
            .entries
            .iter()
            .zip(results)
            .map(|(entry, result)| {
                let (code, message) = match result {
                    Ok(()) => (ErrorCode::None, None),
                    Err((code, message)) => (code, Some(StrBytes::from_string(message))),
                };
                AlteredEntry::default()
                    .with_error_code(code.code())
                    .with_error_message(message)
                    .with_entity(
                        entry
                            .entity
                            .iter()
                            .map(|e| {
                                AlteredEntity::default()
                                    .with_entity_type(e.entity_type.clone())
                                    .with_entity_name(e.entity_name.clone())
                            })
                            .collect(),
                    )
            })
            .collect();
        AlterClientQuotasResponse::default().with_entries(entries)
    };
    let failed_all = |code: ErrorCode, message: &str| {
        answer(vec![
            Err((code, message.to_string()));
            request.entries.len()
        ])
    };
    if !ctx.may_cluster(AclOperation::AlterConfigs) {
        return failed_all(ErrorCode::ClusterAuthorizationFailed, AUTHORIZATION_FAILED);
    }
    let as_answers = |results: Vec<Result<(), crate::security::quota::QuotaError>>| {
        results
            .into_iter()
            .map(|r| r.map_err(|e| (e.code(), e.to_string())))
            .collect()
    };
    if request.validate_only {
        // Validation needs no state: answered here, nothing committed.
        return answer(as_answers(decide_alterations(&alterations).1));
    }
    let reply = ctx
        .shard
        .call(
            super::admin::CONTROLLER_SHARD,
            ShardOp::Controller(ControllerOp::AlterClientQuotas(alterations)),
        )
        .await;
    match reply {
        Ok(ShardReply::Controller(ControllerReply::QuotasAltered(Ok(results)))) => {
            tracing::info!(peer = %ctx.peer, principal = ctx.principal, entries = results.iter().filter(|r| r.is_ok()).count(), "client quotas altered");
            answer(as_answers(results))
        }
        Ok(ShardReply::Controller(ControllerReply::QuotasAltered(Err(code)))) => {
            failed_all(code, "the metadata quorum did not commit the quotas")
        }
        _ => failed_all(ErrorCode::NotController, "no active controller"),
    }
}
