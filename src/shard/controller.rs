//! The controller's shell on shard 0: CreateTopics, DeleteTopics, CreatePartitions,
//! AlterConfigs, producer id blocks, broker registrations and heartbeats. Only the active
//! controller (the metadata quorum's leader, caught up) decides: the decision is pure
//! (`metadata::controller`, `metadata::liveness`), its records are committed through the quorum,
//! and every node applies them (`quorum`). The client hears back once the records are applied
//! on every shard of this node, so a topic a client was told about is open here.
//!
//! Every node also runs its broker's side: it registers with the active controller, heartbeats,
//! and serves clients only once unfenced (Kafka's BrokerLifecycleManager).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use glommio::sync::{Permit, Semaphore};
use uuid::Uuid;

use super::ops::{ShardOp, ShardReply};
use super::Shard;
use crate::error_code::ErrorCode;
use crate::metadata::alter_partition::{self, IsrChange};
use crate::metadata::controller::{decide, ControllerContext, Decision, TopicCommand};
use crate::metadata::election::{self, ElectionOutcome, ElectionType};
use crate::metadata::liveness::{self, Registration};
use crate::metadata::records::MetadataRecord;
use crate::metadata::{BrokerMeta, ClusterMeta};
use crate::quorum::{MetadataLog, ProposeError};
use crate::security::acl;

pub use crate::metadata::controller::{
    ConfigChange, NewTopic, PartitionIncrease, Refusal, TopicOutcome,
};

/// Producer ids are reserved in blocks (Kafka's AllocateProducerIds), so that InitProducerId
/// rarely waits for the quorum.
pub const PRODUCER_ID_BLOCK: i64 = 1000;
/// How long a proposal may take to commit before the caller is told to retry.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the active controller looks for lapsed broker sessions.
const DUTY_INTERVAL: Duration = Duration::from_millis(200);

/// The node's view of the controller, for every shard: the quorum leader's id (-1 when none is
/// known) and whether this node is the active controller. Written by shard 0 only.
static CONTROLLER_ID: AtomicI32 = AtomicI32::new(-1);
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Set once this broker is registered and unfenced: shards then open the client listener.
static BROKER_READY: AtomicBool = AtomicBool::new(false);

/// The active controller's node id as this node knows it (Metadata's controller_id).
pub fn controller_id() -> i32 {
    CONTROLLER_ID.load(Ordering::Relaxed)
}

pub fn is_active_controller() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

pub fn broker_ready() -> bool {
    BROKER_READY.load(Ordering::Relaxed)
}

pub enum ControllerOp {
    CreateTopics {
        topics: Vec<NewTopic>,
        validate_only: bool,
    },
    DeleteTopics {
        names: Vec<String>,
    },
    CreatePartitions {
        topics: Vec<PartitionIncrease>,
        validate_only: bool,
    },
    AllocateProducerId,
    AlterTopicConfigs {
        topic: String,
        change: ConfigChange,
        validate_only: bool,
    },
    /// A Kafka request to send to the active controller (KIP-590 forwarding); the reply is
    /// its response, header included.
    Forward(bytes::Bytes),
    /// The metadata quorum's state, for DescribeQuorum.
    DescribeQuorum,
    /// AlterPartition from this broker's leaders: sent to the active controller.
    AlterPartition {
        changes: Vec<IsrChange>,
    },
    /// ElectLeaders: `partitions` as (topic, partition), `None` for all.
    ElectLeaders {
        kind: ElectionType,
        partitions: Option<Vec<(String, i32)>>,
    },
    /// AlterUserScramCredentials (KIP-554).
    AlterScramCredentials {
        deletions: Vec<crate::security::credentials::ScramDeletion>,
        upsertions: Vec<crate::security::credentials::ScramUpsertion>,
    },
    /// CreateAcls.
    CreateAcls(Vec<acl::AclCreation>),
    /// DeleteAcls: each filter, or why it is invalid.
    DeleteAcls(Vec<Result<acl::AclFilter, acl::AclError>>),
    /// AlterClientQuotas (KIP-546), not a dry run.
    AlterClientQuotas(Vec<crate::security::quota::QuotaAlteration>),
}

pub enum ControllerReply {
    Topics(Vec<TopicOutcome>),
    ProducerId(Result<i64, ErrorCode>),
    Forwarded(Result<bytes::Bytes, ErrorCode>),
    Quorum(crate::quorum::QuorumStatus),
    Elections(Result<Vec<ElectionOutcome>, ErrorCode>),
    /// Each change's (topic id, partition, error).
    IsrChanges(Result<Vec<(uuid::Uuid, i32, ErrorCode)>, ErrorCode>),
    /// Each user's result of AlterUserScramCredentials.
    ScramResults(Vec<crate::security::credentials::UserResult>),
    /// Each creation's ACL or refusal, or why none was made.
    AclsCreated(Result<Vec<Result<acl::AclBinding, acl::AclError>>, ErrorCode>),
    /// Each filter's deleted ACLs or refusal, or why none was deleted.
    AclsDeleted(Result<Vec<Result<Vec<acl::AclBinding>, acl::AclError>>, ErrorCode>),
    /// Each entry's result of AlterClientQuotas, or why nothing was changed.
    QuotasAltered(Result<Vec<Result<(), crate::security::quota::QuotaError>>, ErrorCode>),
    /// This node is not the active controller (the caller forwards or answers NOT_CONTROLLER).
    NotController,
}

/// A BrokerHeartbeat's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    pub fenced: bool,
    pub caught_up: bool,
    pub should_shut_down: bool,
}

pub struct Controller {
    /// The metadata quorum this node votes in, or (broker-only) observes.
    pub quorum: MetadataLog,
    /// One change at a time: each decision sees the result of the previous one.
    serial: Semaphore,
    /// This node's block of producer ids: the next to hand out and the block's end.
    producer_ids: Cell<(i64, i64)>,
    /// The active controller's record of each broker's last heartbeat.
    sessions: RefCell<HashMap<i32, Instant>>,
    was_active: Cell<bool>,
    /// This process's broker incarnation (a restart registers anew).
    pub incarnation: Uuid,
    /// This broker's epoch once registered (AlterPartition carries it).
    broker_epoch: Cell<Option<i64>>,
}

impl Controller {
    pub fn new(quorum: MetadataLog) -> Self {
        Controller {
            quorum,
            serial: Semaphore::new(1),
            producer_ids: Cell::new((0, 0)),
            sessions: Default::default(),
            was_active: Cell::new(false),
            incarnation: Uuid::new_v4(),
            broker_epoch: Cell::new(None),
        }
    }

    /// Commits `records` through the quorum (nothing to do for none); a failure is the code
    /// the caller answers with.
    async fn commit(&self, records: &[MetadataRecord]) -> Result<(), ErrorCode> {
        if records.is_empty() {
            return Ok(());
        }
        self.quorum
            .propose(records, PROPOSE_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|e| propose_refusal(e).code)
    }

    fn session_valid(&self, id: i32, timeout: Duration) -> bool {
        self.sessions
            .borrow()
            .get(&id)
            .is_some_and(|seen| seen.elapsed() < timeout)
    }
}

fn propose_refusal(e: ProposeError) -> Refusal {
    match e {
        ProposeError::NotLeader => Refusal {
            code: ErrorCode::NotController,
            message: "this node stopped being the active controller; retry".into(),
        },
        ProposeError::Timeout(_) => Refusal {
            code: ErrorCode::RequestTimedOut,
            message: format!("the metadata quorum did not commit the change: {e}"),
        },
    }
}

impl Shard {
    fn controller(&self) -> Option<&Controller> {
        self.controller.as_ref()
    }

    pub(super) async fn controller_execute(self: &Rc<Self>, op: ControllerOp) -> ControllerReply {
        let Some(controller) = self.controller() else {
            return ControllerReply::NotController;
        };
        let (command, validate_only) = match op {
            ControllerOp::AllocateProducerId => {
                return ControllerReply::ProducerId(self.next_producer_id(controller).await)
            }
            ControllerOp::Forward(request) => {
                return ControllerReply::Forwarded(self.forward_to_controller(&request).await)
            }
            ControllerOp::DescribeQuorum => {
                return match controller.quorum.voter() {
                    Some(quorum) => ControllerReply::Quorum(quorum.status()),
                    None => ControllerReply::NotController,
                }
            }
            ControllerOp::AlterPartition { changes } => {
                return ControllerReply::IsrChanges(
                    self.send_alter_partition(controller, changes).await,
                )
            }
            ControllerOp::ElectLeaders { kind, partitions } => {
                return ControllerReply::Elections(
                    self.elect_leaders(kind, partitions.as_deref()).await,
                )
            }
            ControllerOp::AlterScramCredentials {
                deletions,
                upsertions,
            } => return self.alter_scram_credentials(&deletions, &upsertions).await,
            ControllerOp::CreateAcls(creations) => {
                return self
                    .decide_and_reply(
                        |meta| acl::decide_creations(&meta.acls, &creations),
                        ControllerReply::AclsCreated,
                    )
                    .await
            }
            ControllerOp::DeleteAcls(filters) => {
                return self
                    .decide_and_reply(
                        |meta| acl::decide_deletions(&meta.acls, &filters),
                        ControllerReply::AclsDeleted,
                    )
                    .await
            }
            ControllerOp::AlterClientQuotas(alterations) => {
                return self
                    .decide_and_reply(
                        |_| crate::security::quota::decide_alterations(&alterations),
                        ControllerReply::QuotasAltered,
                    )
                    .await
            }
            ControllerOp::CreateTopics {
                topics,
                validate_only,
            } => (TopicCommand::CreateTopics(topics), validate_only),
            ControllerOp::DeleteTopics { names } => (TopicCommand::DeleteTopics(names), false),
            ControllerOp::CreatePartitions {
                topics,
                validate_only,
            } => (TopicCommand::CreatePartitions(topics), validate_only),
            ControllerOp::AlterTopicConfigs {
                topic,
                change,
                validate_only,
            } => (
                TopicCommand::AlterTopicConfigs { topic, change },
                validate_only,
            ),
        };
        let Ok((controller, _turn)) = self.active_turn().await else {
            return ControllerReply::NotController;
        };
        let context = ControllerContext {
            num_partitions: self.config.num_partitions,
            default_replication_factor: self.config.default_replication_factor,
            delete_topic_enable: self.config.delete_topic_enable,
        };
        let decision = decide(&controller.quorum.meta(), &context, command);
        ControllerReply::Topics(
            self.commit_decision(controller, decision, validate_only)
                .await,
        )
    }

    /// Decides AlterUserScramCredentials on the current metadata and commits the accepted
    /// changes; if the commit fails, every accepted user gets its error.
    async fn alter_scram_credentials(
        &self,
        deletions: &[crate::security::credentials::ScramDeletion],
        upsertions: &[crate::security::credentials::ScramUpsertion],
    ) -> ControllerReply {
        let Some((committed, mut results)) = self
            .decide_and_commit(|meta| {
                crate::security::credentials::decide(meta, deletions, upsertions)
            })
            .await
        else {
            return ControllerReply::NotController;
        };
        if let Err(code) = committed {
            for result in results.iter_mut().filter(|r| r.1 == ErrorCode::None) {
                result.1 = code;
                result.2 = Some("the metadata quorum did not commit the change".into());
            }
        }
        ControllerReply::ScramResults(results)
    }

    /// Takes the controller's turn, decides on the current metadata (records to commit and
    /// the answer) and commits the records: the commit's result and the answer, or `None`
    /// when this node is not the active controller.
    async fn decide_and_commit<R>(
        &self,
        decide: impl FnOnce(&ClusterMeta) -> (Vec<MetadataRecord>, R),
    ) -> Option<(Result<(), ErrorCode>, R)> {
        let (controller, _turn) = self.active_turn().await.ok()?;
        let (records, answer) = decide(&controller.quorum.meta());
        Some((controller.commit(&records).await, answer))
    }

    /// `decide_and_commit` answered as `reply` (the answer, or the commit's error),
    /// NOT_CONTROLLER when this node is not the active controller.
    async fn decide_and_reply<R>(
        &self,
        decide: impl FnOnce(&ClusterMeta) -> (Vec<MetadataRecord>, R),
        reply: impl FnOnce(Result<R, ErrorCode>) -> ControllerReply,
    ) -> ControllerReply {
        match self.decide_and_commit(decide).await {
            Some((committed, answer)) => reply(committed.map(|()| answer)),
            None => ControllerReply::NotController,
        }
    }

    /// Commits the decision's records unless this is a dry run; if that fails, the accepted
    /// topics are answered with the error instead.
    async fn commit_decision(
        &self,
        controller: &Controller,
        decision: Decision,
        validate_only: bool,
    ) -> Vec<TopicOutcome> {
        let Decision {
            records,
            mut outcomes,
        } = decision;
        if validate_only || records.is_empty() {
            return outcomes;
        }
        if let Err(e) = controller.quorum.propose(&records, PROPOSE_TIMEOUT).await {
            let refusal = propose_refusal(e);
            for outcome in outcomes.iter_mut().filter(|o| o.result.is_ok()) {
                outcome.result = Err(refusal.clone());
            }
        }
        outcomes
    }

    /// A producer id from this node's block; a new block comes from the active controller
    /// (itself, or over AllocateProducerIds).
    async fn next_producer_id(self: &Rc<Self>, controller: &Controller) -> Result<i64, ErrorCode> {
        let (next, end) = controller.producer_ids.get();
        if next < end {
            controller.producer_ids.set((next + 1, end));
            return Ok(next);
        }
        let start = if controller.quorum.is_active() {
            self.allocate_producer_ids().await?
        } else {
            let request = crate::protocol::allocate_producer_ids_request(self.config.broker_id);
            let response = self.forward_to_controller(&request).await?;
            crate::protocol::allocate_producer_ids_response(&response)?
        };
        controller
            .producer_ids
            .set((start + 1, start + PRODUCER_ID_BLOCK));
        Ok(start)
    }

    /// The active controller reserves the next block of producer ids (Kafka's
    /// ProducerIdsRecord) and returns its first id.
    pub async fn allocate_producer_ids(&self) -> Result<i64, ErrorCode> {
        let (controller, _turn) = self.active_turn().await?;
        let start = controller.quorum.meta().next_producer_id;
        let record = MetadataRecord::ProducerIds {
            next_block_start: start + PRODUCER_ID_BLOCK,
        };
        controller.commit(&[record]).await?;
        Ok(start)
    }

    /// This broker's leaders' ISR changes, to the active controller (this node, or over the
    /// controller listener).
    async fn send_alter_partition(
        &self,
        controller: &Controller,
        changes: Vec<IsrChange>,
    ) -> Result<Vec<(Uuid, i32, ErrorCode)>, ErrorCode> {
        let epoch = controller
            .broker_epoch
            .get()
            .ok_or(ErrorCode::StaleBrokerEpoch)?;
        let me = self.config.broker_id;
        if controller.quorum.is_active() {
            let outcomes = self.alter_partition(me, epoch, changes).await?;
            return Ok(outcomes
                .into_iter()
                .map(|(c, r)| (c.topic_id, c.partition, r.err().unwrap_or(ErrorCode::None)))
                .collect());
        }
        let request = crate::protocol::alter_partition_request(me, epoch, &changes);
        let response = self.forward_to_controller(&request).await?;
        crate::protocol::alter_partition_response(&response)
    }

    /// AlterPartition on the active controller: each change decided against the state the
    /// earlier ones of the request leave, all committed together.
    pub async fn alter_partition(
        &self,
        broker: i32,
        broker_epoch: i64,
        changes: Vec<IsrChange>,
    ) -> Result<Vec<(IsrChange, Result<crate::metadata::PartitionMeta, ErrorCode>)>, ErrorCode>
    {
        let (controller, _turn) = self.active_turn().await?;
        let mut state = (*controller.quorum.meta()).clone();
        alter_partition::check_broker(&state, broker, broker_epoch)?;
        let mut records = Vec::new();
        let mut outcomes = Vec::new();
        for change in changes {
            let result =
                alter_partition::alter_partition(&state, broker, &change).map(|(record, next)| {
                    let _ = crate::metadata::records::apply(&mut state, &record);
                    records.push(record);
                    next
                });
            outcomes.push((change, result));
        }
        controller.commit(&records).await?;
        for (change, result) in &outcomes {
            match result {
                Ok(next) => {
                    tracing::info!(broker, topic_id = %change.topic_id, partition = change.partition, isr = ?next.isr, "ISR changed (AlterPartition)")
                }
                Err(code) => {
                    tracing::info!(broker, topic_id = %change.topic_id, partition = change.partition, error = %code, "AlterPartition refused")
                }
            }
        }
        Ok(outcomes)
    }

    /// ElectLeaders on the active controller: decided and committed under the turn.
    async fn elect_leaders(
        &self,
        kind: ElectionType,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<ElectionOutcome>, ErrorCode> {
        let (controller, _turn) = self.active_turn().await?;
        let (records, outcomes) =
            election::elect_leaders(&controller.quorum.meta(), kind, partitions);
        controller.commit(&records).await?;
        let meta = controller.quorum.meta();
        for outcome in outcomes.iter().filter(|o| o.result.is_ok()) {
            let leader = meta
                .topics
                .get(&outcome.topic)
                .and_then(|t| t.partition(outcome.partition))
                .map_or(crate::metadata::NO_LEADER, |p| p.leader);
            if kind == ElectionType::Unclean {
                tracing::warn!(topic = %outcome.topic, partition = outcome.partition, leader, "unclean leader election (ElectLeaders): records the old ISR acknowledged may be lost");
            } else {
                tracing::info!(topic = %outcome.topic, partition = outcome.partition, leader, "preferred leader elected (ElectLeaders)");
            }
        }
        Ok(outcomes)
    }

    /// `auto.leader.rebalance.enable`: preferred replicas that are alive and in sync lead
    /// again.
    async fn rebalance_leaders(&self) {
        let Ok((controller, _turn)) = self.active_turn().await else {
            return;
        };
        let records = election::rebalance_preferred_leaders(&controller.quorum.meta());
        if records.is_empty() {
            return;
        }
        match controller.quorum.propose(&records, PROPOSE_TIMEOUT).await {
            Ok(_) => tracing::info!(
                partitions = records.len(),
                "auto leader rebalance: preferred replicas lead again"
            ),
            Err(e) => tracing::warn!(error = %e, "auto leader rebalance not committed"),
        }
    }

    /// The controller's turn (one change at a time), taken only while this node is the
    /// active controller: each decision sees the result of the previous one.
    async fn active_turn(&self) -> Result<(&Controller, Permit<'_>), ErrorCode> {
        let controller = self.controller().ok_or(ErrorCode::NotController)?;
        let turn = controller
            .serial
            .acquire_permit(1)
            .await
            .map_err(|_| ErrorCode::NotController)?;
        if !controller.quorum.is_active() {
            return Err(ErrorCode::NotController);
        }
        Ok((controller, turn))
    }

    /// Sends a Kafka request to the active controller and returns its response.
    async fn forward_to_controller(&self, request: &[u8]) -> Result<bytes::Bytes, ErrorCode> {
        self.forward_to_controller_within(request, PROPOSE_TIMEOUT)
            .await
    }

    /// `forward_to_controller`, giving up after `timeout`.
    async fn forward_to_controller_within(
        &self,
        request: &[u8],
        timeout: Duration,
    ) -> Result<bytes::Bytes, ErrorCode> {
        let controller = self.controller().ok_or(ErrorCode::NotController)?;
        let leader = controller.quorum.leader().ok_or(ErrorCode::NotController)?;
        let peer = controller
            .quorum
            .peer(leader)
            .ok_or(ErrorCode::NotController)?;
        peer.call(request, timeout).await.map_err(|e| {
            tracing::debug!(error = %e, "forward to the active controller failed");
            ErrorCode::NotController
        })
    }

    /// BrokerRegistration on the active controller.
    pub async fn register_broker(&self, registration: Registration) -> Result<i64, ErrorCode> {
        let (controller, _turn) = self.active_turn().await?;
        let timeout = Duration::from_millis(self.config.cluster.session_timeout_ms);
        // This node's own previous incarnation is certainly gone: it is this process.
        let session_valid = registration.id != self.config.broker_id
            && controller.session_valid(registration.id, timeout);
        // Kafka's broker epoch is the offset of the registration record; the next index is
        // that (one change at a time), and grows with every registration.
        let epoch = controller.quorum.applied_index() as i64 + 1;
        let meta = controller.quorum.meta();
        let records = liveness::register(&meta, &registration, epoch, session_valid)?;
        controller.commit(&records).await?;
        controller
            .sessions
            .borrow_mut()
            .insert(registration.id, Instant::now());
        tracing::info!(
            broker = registration.id,
            epoch,
            endpoints = %registration
                .endpoints
                .iter()
                .map(|e| format!("{}://{}:{}", e.name, e.host, e.port))
                .collect::<Vec<_>>()
                .join(","),
            "broker registered"
        );
        Ok(controller
            .quorum
            .meta()
            .brokers
            .get(&registration.id)
            .map_or(epoch, |b| b.epoch))
    }

    /// BrokerHeartbeat on the active controller: renews the session, unfences a broker that
    /// has caught up with the metadata up to its registration, and carries out a controlled
    /// shutdown.
    pub async fn broker_heartbeat(
        &self,
        id: i32,
        epoch: i64,
        metadata_offset: i64,
        want_shut_down: bool,
    ) -> Result<HeartbeatOutcome, ErrorCode> {
        let controller = self.controller().ok_or(ErrorCode::NotController)?;
        if !controller.quorum.is_active() {
            return Err(ErrorCode::NotController);
        }
        let meta = controller.quorum.meta();
        let broker = registered(&meta, id, epoch)?;
        controller.sessions.borrow_mut().insert(id, Instant::now());
        let caught_up = metadata_offset >= broker.epoch;
        // Some(true): a controlled shutdown to carry out; Some(false): an unfencing.
        let change = |b: &BrokerMeta| {
            if want_shut_down && !b.shutting_down {
                Some(true)
            } else if b.fenced && caught_up && !want_shut_down {
                Some(false)
            } else {
                None
            }
        };
        if change(broker).is_some() {
            // Decided under the turn: an earlier change may have moved things meanwhile.
            let (controller, _turn) = self.active_turn().await?;
            let meta = controller.quorum.meta();
            let broker = registered(&meta, id, epoch)?;
            if let Some(shut_down) = change(broker) {
                let records = if shut_down {
                    liveness::shut_down(&meta, id, self.config.cluster.unclean_leader_election)
                } else {
                    liveness::unfence(&meta, id)
                };
                controller.commit(&records).await?;
                if shut_down {
                    tracing::info!(broker = id, "controlled shutdown: leaderships moved");
                } else {
                    tracing::info!(broker = id, "broker unfenced");
                }
            }
        }
        let meta = controller.quorum.meta();
        let fenced = meta.brokers.get(&id).is_none_or(|b| b.fenced);
        // A broker shutting down may stop once it leads nothing.
        let leads = meta
            .topics
            .values()
            .flat_map(|t| &t.partitions)
            .any(|p| p.leader == id);
        Ok(HeartbeatOutcome {
            fenced,
            caught_up,
            should_shut_down: want_shut_down && !leads,
        })
    }

    /// The active controller's periodic work: the cluster id and the offsets topic of a new
    /// cluster, and fencing brokers whose session lapsed.
    pub(super) async fn controller_duties(self: Rc<Self>) {
        let mut first = true;
        let rebalance_interval =
            Duration::from_secs(self.config.cluster.leader_imbalance_check_interval_s);
        let mut last_rebalance = Instant::now();
        loop {
            if !std::mem::take(&mut first) {
                glommio::timer::sleep(DUTY_INTERVAL).await;
            }
            let Some(controller) = self.controller() else {
                return;
            };
            let quorum = &controller.quorum;
            let leader = quorum.leader().map_or(-1, |l| l as i32);
            CONTROLLER_ID.store(leader, Ordering::Relaxed);
            let active = quorum.is_active();
            ACTIVE.store(active, Ordering::Relaxed);
            if !active {
                controller.was_active.set(false);
                continue;
            }
            if !controller.was_active.replace(true) {
                // A new active controller gives every registered broker a full session before
                // fencing it (Kafka's BrokerHeartbeatManager does the same on failover).
                let now = Instant::now();
                let mut sessions = controller.sessions.borrow_mut();
                sessions.clear();
                for id in quorum.meta().brokers.keys() {
                    sessions.insert(*id, now);
                }
                tracing::info!(
                    node = self.config.broker_id,
                    term = quorum.voter().map_or(0, |q| q.term()),
                    "this node is the active controller"
                );
            }
            self.bootstrap_cluster(controller).await;
            let timeout = Duration::from_millis(self.config.cluster.session_timeout_ms);
            let lapsed: Vec<i32> = quorum
                .meta()
                .brokers
                .values()
                .filter(|b| !b.fenced && !controller.session_valid(b.id, timeout))
                .map(|b| b.id)
                .collect();
            for id in lapsed {
                let Ok((_, _turn)) = self.active_turn().await else {
                    break;
                };
                let meta = quorum.meta();
                if meta.brokers.get(&id).is_none_or(|b| b.fenced)
                    || controller.session_valid(id, timeout)
                {
                    continue;
                }
                let records =
                    liveness::fence(&meta, id, self.config.cluster.unclean_leader_election);
                match quorum.propose(&records, PROPOSE_TIMEOUT).await {
                    Ok(_) => tracing::warn!(
                        broker = id,
                        session_timeout_ms = self.config.cluster.session_timeout_ms,
                        partitions_changed = records.len() - 1,
                        "broker fenced: no heartbeat within broker.session.timeout.ms; its partitions have new leaders"
                    ),
                    Err(e) => tracing::warn!(broker = id, error = %e, "fencing not committed"),
                }
            }
            if self.config.cluster.auto_leader_rebalance
                && last_rebalance.elapsed() >= rebalance_interval
            {
                last_rebalance = Instant::now();
                self.rebalance_leaders().await;
            }
        }
    }

    /// A new cluster's first records: its id, and (on a multi-node cluster, once enough
    /// brokers registered) the offsets topic.
    async fn bootstrap_cluster(self: &Rc<Self>, controller: &Controller) {
        let meta = controller.quorum.meta();
        let mut records = Vec::new();
        if meta.cluster_id.is_empty() {
            let id = match controller.quorum.data_dir_cluster_id() {
                "" => super::runtime::new_cluster_id(),
                given => given.to_string(),
            };
            records.push(MetadataRecord::ClusterId(id));
            // `weir storage format --add-scram`: committed with the new cluster's id, once.
            records.extend(self.config.bootstrap_records.0.iter().cloned());
        }
        if !records.is_empty() {
            let Ok((_, _turn)) = self.active_turn().await else {
                return;
            };
            if let Err(e) = controller.quorum.propose(&records, PROPOSE_TIMEOUT).await {
                tracing::warn!(error = %e, "cluster id not committed yet");
            }
        }
        if !meta.topics.contains_key(crate::group::store::OFFSETS_TOPIC) {
            self.create_offsets_topic(&meta).await;
        }
    }

    /// `__consumer_offsets` with `offsets.topic.replication.factor` replicas, capped at the
    /// quorum's size (Kafka caps it for development clusters, with a warning), once that many
    /// brokers are alive.
    async fn create_offsets_topic(self: &Rc<Self>, meta: &ClusterMeta) {
        let voters = self.config.cluster.voters.len().max(1);
        let wanted = self.config.offsets_topic_replication_factor.max(1) as usize;
        let factor = wanted.min(voters);
        if meta.live_brokers().count() < factor {
            return;
        }
        if factor < wanted {
            tracing::warn!(
                offsets_topic_replication_factor = wanted,
                replicas = factor,
                "the cluster has fewer nodes than offsets.topic.replication.factor: __consumer_offsets gets fewer replicas"
            );
        }
        let op = ControllerOp::CreateTopics {
            topics: vec![NewTopic {
                name: crate::group::store::OFFSETS_TOPIC.to_string(),
                num_partitions: self.config.offsets_topic_partitions,
                replication_factor: factor as i16,
                assignments: Vec::new(),
                configs: vec![
                    ("cleanup.policy".into(), Some("compact".into())),
                    ("segment.bytes".into(), Some("104857600".into())),
                ],
            }],
            validate_only: false,
        };
        if let ControllerReply::Topics(outcomes) = self.controller_execute(op).await {
            for o in outcomes {
                if let Err(r) = o.result {
                    tracing::warn!(error = %r.message, "__consumer_offsets not created yet");
                }
            }
        }
    }

    /// Applies `meta` on every shard of this node (after the quorum applied a batch).
    pub(super) async fn publish_metadata(self: &Rc<Self>, meta: Rc<ClusterMeta>) {
        let applies: Vec<_> = (0..self.count)
            .map(|peer| {
                let shard = self.clone();
                let meta = Box::new((*meta).clone());
                glommio::spawn_local(
                    async move { shard.call(peer, ShardOp::ApplyMetadata(meta)).await },
                )
            })
            .collect();
        for apply in applies {
            match apply.await {
                Ok(ShardReply::MetadataApplied) => {}
                _ => tracing::error!("a shard did not apply the new metadata"),
            }
        }
    }

    /// This broker's side (Kafka's BrokerLifecycleManager): register with the active
    /// controller, heartbeat, and mark the broker ready once unfenced; on shutdown, ask for a
    /// controlled shutdown and wait (bounded) until this broker leads nothing.
    pub(super) async fn broker_lifecycle(self: Rc<Self>) {
        let interval = Duration::from_millis(self.config.cluster.heartbeat_interval_ms);
        let mut epoch = None;
        let mut shutdown_asked: Option<Instant> = None;
        loop {
            let Some(controller) = self.controller() else {
                return;
            };
            let shutting_down = controlled_shutdown_due(&self.config);
            if shutting_down && shutdown_asked.is_none() {
                shutdown_asked = Some(Instant::now());
            }
            let current = match epoch {
                Some(epoch) => epoch,
                None => match self.register_self(controller).await {
                    Ok(registered) => {
                        epoch = Some(registered);
                        controller.broker_epoch.set(Some(registered));
                        registered
                    }
                    Err(ErrorCode::InconsistentClusterId) => crate::quorum::fatal(&format!(
                        "this data dir ({}) belongs to cluster {}, not to the cluster of controller.quorum.voters; refusing to join",
                        self.config.log_dir.display(),
                        controller.quorum.data_dir_cluster_id()
                    )),
                    Err(_) => {
                        glommio::timer::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                },
            };
            let offset = controller.quorum.applied_index() as i64;
            match self
                .heartbeat_self(controller, current, offset, shutting_down)
                .await
            {
                Ok(outcome) => {
                    if !outcome.fenced && !BROKER_READY.swap(true, Ordering::Relaxed) {
                        tracing::info!(
                            broker = self.config.broker_id,
                            epoch = current,
                            "broker unfenced: serving clients"
                        );
                    }
                    if outcome.should_shut_down {
                        CONTROLLED_SHUTDOWN_DONE.store(true, Ordering::Relaxed);
                    }
                }
                Err(ErrorCode::StaleBrokerEpoch) => epoch = None,
                Err(_) => {}
            }
            if shutdown_asked.is_some_and(|t| t.elapsed() > CONTROLLED_SHUTDOWN_TIMEOUT) {
                CONTROLLED_SHUTDOWN_DONE.store(true, Ordering::Relaxed);
            }
            let pause = if BROKER_READY.load(Ordering::Relaxed) && !shutting_down {
                interval
            } else {
                Duration::from_millis(100)
            };
            // A SIGTERM during the pause asks for the controlled shutdown at once.
            let paused = Instant::now();
            while paused.elapsed() < pause && controlled_shutdown_due(&self.config) == shutting_down
            {
                glommio::timer::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// How long a registration or heartbeat waits for the controller it was sent to: half the
    /// session, so that when that controller is cut off (or was replaced) the next attempt,
    /// to the controller known by then, still lands within the session. A heartbeat waiting
    /// the whole proposal timeout on an unreachable controller let every broker's session
    /// lapse at its successor (found by tests/faults.rs).
    fn lifecycle_call_timeout(&self) -> Duration {
        let session = Duration::from_millis(self.config.cluster.session_timeout_ms);
        (session / 2).max(Duration::from_millis(100))
    }

    async fn register_self(&self, controller: &Controller) -> Result<i64, ErrorCode> {
        let registration = Registration {
            id: self.config.broker_id,
            incarnation: controller.incarnation,
            cluster_id: controller.quorum.data_dir_cluster_id().to_string(),
            endpoints: self.config.advertised_endpoints(),
            rack: self.config.cluster.rack.clone(),
        };
        if controller.quorum.is_active() {
            return self.register_broker(registration).await;
        }
        let request = crate::protocol::broker_registration_request(&registration);
        let response = self
            .forward_to_controller_within(&request, self.lifecycle_call_timeout())
            .await?;
        crate::protocol::broker_registration_response(&response)
    }

    async fn heartbeat_self(
        &self,
        controller: &Controller,
        epoch: i64,
        offset: i64,
        shutting_down: bool,
    ) -> Result<HeartbeatOutcome, ErrorCode> {
        if controller.quorum.is_active() {
            return self
                .broker_heartbeat(self.config.broker_id, epoch, offset, shutting_down)
                .await;
        }
        let request = crate::protocol::broker_heartbeat_request(
            self.config.broker_id,
            epoch,
            offset,
            shutting_down,
        );
        let response = self
            .forward_to_controller_within(&request, self.lifecycle_call_timeout())
            .await?;
        crate::protocol::broker_heartbeat_response(&response)
    }
}

/// Broker `id` as registered with `epoch`: a heartbeat of another epoch comes from a previous
/// incarnation (STALE_BROKER_EPOCH).
fn registered(meta: &ClusterMeta, id: i32, epoch: i64) -> Result<&BrokerMeta, ErrorCode> {
    meta.brokers
        .get(&id)
        .filter(|b| b.epoch == epoch)
        .ok_or(ErrorCode::StaleBrokerEpoch)
}

/// Whether SIGTERM asks for a controlled shutdown: a single node has nowhere to move its
/// leaderships, so it just stops.
fn controlled_shutdown_due(config: &crate::config::BrokerConfig) -> bool {
    super::shutting_down()
        && config.cluster.controlled_shutdown
        && config.cluster.broker_role
        && !config.cluster.is_single_node()
}

/// A controlled shutdown waits at most this long for the leaderships to move.
const CONTROLLED_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Set when this broker leads nothing any more (or the wait timed out): shutdown may go on.
static CONTROLLED_SHUTDOWN_DONE: AtomicBool = AtomicBool::new(false);

pub fn controlled_shutdown_done() -> bool {
    CONTROLLED_SHUTDOWN_DONE.load(Ordering::Relaxed)
}
