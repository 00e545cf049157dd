//! Shards: one glommio executor per core, each owning the logs of its partitions, a replica of
//! the cluster metadata, its client connections and its end of the shard mesh.

pub mod controller;
pub mod group_ops;
mod mesh;
pub mod ops;
pub mod request_time;
mod runtime;
pub mod txn_ops;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use uuid::Uuid;

use crate::clock::Clock;
use crate::config::BrokerConfig;
use crate::error_code::ErrorCode;
use crate::group::GroupCoordinator;
use crate::log::{blocking, LogDir, PartitionLog, ReplicaRole};
use crate::metadata::{place_partition, ClusterMeta, PartitionMeta};
use crate::protocol::fetch_session::FetchSessions;
use controller::Controller;
use mesh::{Mesh, MeshClosed};
use ops::{PartitionOffsets, ShardOp, ShardReply, TopicPartition};

pub use runtime::{serve, shutting_down, ServeError};

struct TopicLogs {
    id: Uuid,
    partitions: BTreeMap<i32, Rc<PartitionLog>>,
}

/// Where a partition's requests go, as [`Shard::route`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// This broker leads the partition; shard `n` owns its log.
    Local(usize),
    /// Another broker leads it, or none does (`NO_LEADER`): the client refreshes its metadata
    /// (NOT_LEADER_OR_FOLLOWER).
    Remote { leader: i32 },
    /// No such topic or partition.
    Unknown,
}

/// The routing decision, apart from any shard: broker `broker_id` with `shard_count` shards
/// serves the partition when the metadata makes it the leader.
pub fn route(
    meta: &ClusterMeta,
    broker_id: i32,
    shard_count: usize,
    topic: &str,
    partition: i32,
) -> Route {
    match meta.topics.get(topic).and_then(|t| t.partition(partition)) {
        Some(state) => route_partition(state, broker_id, shard_count, topic, partition),
        None => Route::Unknown,
    }
}

/// The routing decision for a partition whose state is known.
fn route_partition(
    state: &PartitionMeta,
    broker_id: i32,
    shard_count: usize,
    topic: &str,
    partition: i32,
) -> Route {
    if state.leader == broker_id {
        Route::Local(place_partition(topic, partition, shard_count) as usize)
    } else {
        Route::Remote {
            leader: state.leader,
        }
    }
}

impl Route {
    /// The local shard, or the error a client gets for a partition this broker does not lead.
    pub fn local(self) -> Result<usize, ErrorCode> {
        match self {
            Route::Local(shard) => Ok(shard),
            Route::Remote { .. } => Err(ErrorCode::NotLeaderOrFollower),
            Route::Unknown => Err(ErrorCode::UnknownTopicOrPartition),
        }
    }
}

/// One core's share of the broker. Only its own executor touches it.
pub struct Shard {
    pub id: usize,
    pub count: usize,
    pub config: Rc<BrokerConfig>,
    log_dir: LogDir,
    clock: Rc<dyn Clock>,
    /// The metadata snapshot requests are routed by; replaced whole on every change.
    meta: RefCell<Rc<ClusterMeta>>,
    logs: RefCell<HashMap<String, TopicLogs>>,
    /// Partitions this shard owns whose log could not be opened (KAFKA_STORAGE_ERROR).
    offline: RefCell<std::collections::HashSet<TopicPartition>>,
    mesh: Rc<Mesh>,
    controller: Option<Controller>,
    pub fetch_sessions: RefCell<FetchSessions>,
    /// The produce and fetch rates of this shard's clients with a quota (KIP-219).
    pub quotas: RefCell<crate::security::quota::QuotaTracker>,
    /// The group coordinator of each `__consumer_offsets` partition this shard owns and this
    /// broker leads, by partition: created, loaded from the log, when leadership comes, and
    /// dropped when it goes.
    coordinators: RefCell<BTreeMap<i32, group_ops::Coordinator>>,
    /// The settings each new group coordinator gets.
    group_config: crate::group::GroupConfig,
    /// The `__consumer_offsets` partitions whose groups are being loaded from their log: their
    /// groups get COORDINATOR_LOAD_IN_PROGRESS meanwhile (see `group_ops`).
    pub loading_offsets: RefCell<std::collections::BTreeSet<i32>>,
    /// The transaction coordinator of each `__transaction_state` partition this shard owns
    /// and this broker leads (see `txn_ops`), loaded when leadership comes.
    txn_coordinators: RefCell<BTreeMap<i32, txn_ops::TxnShell>>,
    /// The `__transaction_state` partitions being loaded (COORDINATOR_LOAD_IN_PROGRESS).
    loading_txns: RefCell<std::collections::BTreeSet<i32>>,
    /// Where replication's work runs: the follower's fetchers and the leader's reads for its
    /// followers (shares equal to the client requests').
    pub replication_queue: glommio::TaskQueueHandle,
    /// Produce/fetch latencies and counters of the partitions this shard owns, and of the
    /// requests and connections it serves.
    pub metrics: crate::metrics::ShardMetrics,
    /// `max.connections`, shared by every shard's acceptor.
    pub connection_count: std::sync::Arc<crate::net::ConnectionCount>,
    /// `max.connections.per.ip`: the counts of the client addresses this shard owns.
    pub address_connections: crate::net::AddressConnections,
    /// The connections this shard serves (for a graceful shutdown).
    pub connections: crate::net::OpenConnections,
    /// `queued.max.request.bytes` of this shard.
    pub request_memory: crate::net::RequestMemory,
}

impl Shard {
    pub fn meta(&self) -> Rc<ClusterMeta> {
        self.meta.borrow().clone()
    }

    /// Whether the cluster has any client quota (checked on every request: no snapshot taken).
    pub fn has_client_quotas(&self) -> bool {
        !self.meta.borrow().client_quotas.is_empty()
    }

    /// The brokers clients of `listener` may use (registered, unfenced and advertising that
    /// listener, as Kafka answers Metadata per listener): (id, host, port, rack). Before this
    /// broker's own registration is applied it lists itself, so that a client always has
    /// somewhere to go.
    pub fn live_brokers(&self, listener: &str) -> Vec<(i32, String, u16, Option<String>)> {
        let meta = self.meta.borrow();
        let mut brokers: Vec<_> = meta
            .live_brokers()
            .filter_map(|b| {
                let e = b.endpoint(listener)?;
                Some((b.id, e.host.clone(), e.port, b.rack.clone()))
            })
            .collect();
        if !brokers.iter().any(|b| b.0 == self.config.broker_id) {
            if let Some((host, port)) = self.own_endpoint(listener) {
                brokers.push((
                    self.config.broker_id,
                    host,
                    port,
                    self.config.cluster.rack.clone(),
                ));
            }
        }
        brokers
    }

    /// Where broker `id` is reached on `listener`, when it is registered and advertises it.
    pub fn broker_endpoint(&self, id: i32, listener: &str) -> Option<(String, u16)> {
        if id == self.config.broker_id {
            return self.own_endpoint(listener);
        }
        let meta = self.meta.borrow();
        let endpoint = meta.brokers.get(&id)?.endpoint(listener)?;
        Some((endpoint.host.clone(), endpoint.port))
    }

    /// Where another broker reaches broker `id` (`inter.broker.listener.name`).
    pub fn inter_broker_endpoint(&self, id: i32) -> Option<(String, u16)> {
        self.broker_endpoint(id, &self.config.inter_broker_listener)
    }

    fn own_endpoint(&self, listener: &str) -> Option<(String, u16)> {
        let own = self.config.listeners.iter().find(|l| l.name == listener)?;
        let advertised = own.advertised.as_ref()?;
        Some((advertised.host.clone(), advertised.port))
    }

    /// The controller id Metadata and DescribeCluster give clients: the active controller
    /// when it is a live broker, which takes admin requests directly (any broker forwards
    /// them too).
    pub fn controller_id(&self) -> i32 {
        // Clients send admin requests to the controller id they are given: a controller-only
        // node serves no clients, so (as KRaft brokers do) they get a live broker instead,
        // this one, which forwards.
        match controller::controller_id() {
            id if self.meta.borrow().is_live(id) => id,
            _ => self.config.broker_id,
        }
    }

    /// Whether broker `id` holds a replica of the partition.
    pub fn is_replica(&self, tp: &TopicPartition, id: i32) -> bool {
        self.meta
            .borrow()
            .topics
            .get(&tp.topic)
            .and_then(|t| t.partition(tp.partition))
            .is_some_and(|p| p.replicas.contains(&id))
    }

    /// The broker that coordinates `group`: the leader of its `__consumer_offsets` partition.
    pub fn group_coordinator(&self, group: &str) -> Option<i32> {
        let meta = self.meta.borrow();
        let topic = meta.topics.get(crate::group::store::OFFSETS_TOPIC)?;
        let partition = crate::group::offsets_partition(group, topic.partitions.len());
        topic
            .partition(partition)
            .map(|p| p.leader)
            .filter(|l| *l != crate::metadata::NO_LEADER)
    }

    /// Where requests for partition `partition` of `topic` go: the routing seam. Handlers ask
    /// here and never look at leaders or placement themselves.
    pub fn route(&self, topic: &str, partition: i32) -> Route {
        route(
            &self.meta.borrow(),
            self.config.broker_id,
            self.count,
            topic,
            partition,
        )
    }

    /// Whether this shard owns the log of partition `index` of `topic`: this broker holds a
    /// replica of it (as leader or follower), and the partition is placed on this shard.
    fn owns(&self, topic: &str, index: i32, partition: &PartitionMeta) -> bool {
        let me = self.config.broker_id;
        (partition.leader == me || partition.replicas.contains(&me))
            && place_partition(topic, index, self.count) as usize == self.id
    }

    /// Gives the log the role the metadata says this broker has: leader (with the other ISR
    /// members to wait for) or follower.
    ///
    /// A follower's log may hold records the new leader does not have, at offsets where the
    /// new leader stores others. With leader epochs in the log, nothing is cut here: each
    /// fetch names the epoch of this log's last batch and the leader answers where the two
    /// logs part (KIP-101/279, in Fetch v12's form), so only records that truly differ go,
    /// and a record every replica has is never dropped on a stale high watermark (KIP-101's
    /// first scenario). A log without epochs (written before Weir kept them) is cut to its
    /// high watermark, as Kafka did before KIP-101, then fetched again.
    async fn take_role(self: &Rc<Self>, log: &Rc<PartitionLog>, partition: &PartitionMeta) {
        // A new leader epoch (a leadership change) stamps the batches appended from now on.
        log.set_leader_epoch(partition.leader_epoch);
        let me = self.config.broker_id;
        let offsets_topic = log.topic() == crate::group::store::OFFSETS_TOPIC;
        let txn_topic = log.topic() == crate::txn::TRANSACTION_STATE_TOPIC;
        if partition.leader == me {
            let led = log.lead(partition.isr.iter().copied().filter(|b| *b != me).collect());
            // A log just opened leads by default: without a coordinator yet, it loads too.
            if offsets_topic && (!led || self.coordinator(log.partition()).is_none()) {
                self.load_coordinator_partition(log).await;
            }
            let txn_loaded = self
                .txn_coordinators
                .borrow()
                .contains_key(&log.partition());
            if txn_topic && (!led || !txn_loaded) {
                self.load_txn_partition(log, partition.leader_epoch).await;
            }
            return;
        }
        let previous = log.follow(partition.leader);
        if offsets_topic {
            self.unload_coordinator_partition(log.partition());
        }
        if txn_topic {
            self.unload_txn_partition(log.partition());
        }
        let same_leader = previous
            == ReplicaRole::Follower {
                leader: partition.leader,
            };
        if !same_leader {
            tracing::info!(
                topic = log.topic(),
                partition = log.partition(),
                leader = partition.leader,
                leader_epoch = partition.leader_epoch,
                log_end_offset = log.log_end_offset(),
                "following a new leader"
            );
        }
        let high_watermark = log.high_watermark();
        let without_epochs = log.latest_epoch().is_none();
        if !same_leader && without_epochs && log.log_end_offset() > high_watermark {
            match log.truncate_to(high_watermark).await {
                Ok(end) => tracing::info!(
                    topic = log.topic(),
                    partition = log.partition(),
                    leader = partition.leader,
                    log_end_offset = end,
                    "following a new leader with a log without leader epochs: cut it to the high watermark"
                ),
                Err(e) => tracing::error!(
                    topic = log.topic(),
                    partition = log.partition(),
                    error = %e,
                    "following a new leader, but the log could not be cut to the high watermark"
                ),
            }
        }
    }

    /// The partition's log, or the error a client gets for it: KAFKA_STORAGE_ERROR when this
    /// shard owns it but could not open it, UNKNOWN_TOPIC_OR_PARTITION otherwise.
    pub(crate) fn open_log(&self, tp: &TopicPartition) -> Result<Rc<PartitionLog>, ErrorCode> {
        self.log(tp).ok_or_else(|| {
            if self.offline.borrow().contains(tp) {
                ErrorCode::KafkaStorageError
            } else {
                ErrorCode::UnknownTopicOrPartition
            }
        })
    }

    pub(crate) fn log(&self, tp: &TopicPartition) -> Option<Rc<PartitionLog>> {
        self.logs
            .borrow()
            .get(&tp.topic)?
            .partitions
            .get(&tp.partition)
            .cloned()
    }

    /// The log holds the partition's leader epoch (set from the metadata as it is applied):
    /// no metadata lookup on every read.
    fn offsets_of(&self, log: &PartitionLog) -> PartitionOffsets {
        PartitionOffsets {
            log_start_offset: log.log_start_offset(),
            high_watermark: log.high_watermark(),
            last_stable_offset: log.last_stable_offset(),
            leader_epoch: log.leader_epoch(),
        }
    }

    /// Runs `op` on shard `owner`: directly when that is this shard, else over the mesh.
    pub async fn call(
        self: &Rc<Self>,
        owner: usize,
        op: ShardOp,
    ) -> Result<ShardReply, MeshClosed> {
        if owner == self.id {
            Ok(ops::execute(self.clone(), op).await)
        } else {
            self.mesh.request(owner, op).await
        }
    }

    /// Runs a partition operation on the partition's owner: UNKNOWN_TOPIC_OR_PARTITION when
    /// the partition does not exist, UNKNOWN_SERVER_ERROR when the owner cannot be reached.
    pub async fn call_owner(self: &Rc<Self>, op: ShardOp) -> Result<ShardReply, ErrorCode> {
        self.call_routed(op, Self::route).await
    }

    /// Like [`Shard::route`], but a follower's copy counts too: where a consumer fetch goes
    /// when followers may serve it (Fetch v11+, KIP-392).
    pub fn replica_route(&self, topic: &str, partition: i32) -> Route {
        let meta = self.meta.borrow();
        let me = self.config.broker_id;
        match meta.topics.get(topic).and_then(|t| t.partition(partition)) {
            Some(state) if state.replicas.contains(&me) => {
                Route::Local(place_partition(topic, partition, self.count) as usize)
            }
            Some(state) => route_partition(state, me, self.count, topic, partition),
            None => Route::Unknown,
        }
    }

    /// Runs a partition operation on the shard holding this broker's copy of the partition,
    /// leader's or follower's (see [`Shard::replica_route`]).
    pub async fn call_replica(self: &Rc<Self>, op: ShardOp) -> Result<ShardReply, ErrorCode> {
        self.call_routed(op, Self::replica_route).await
    }

    /// Runs a partition operation on the shard `route` names for its partition.
    async fn call_routed(
        self: &Rc<Self>,
        op: ShardOp,
        route: fn(&Self, &str, i32) -> Route,
    ) -> Result<ShardReply, ErrorCode> {
        let shard = match op.partition() {
            Some(tp) => route(self, &tp.topic, tp.partition).local()?,
            None => return Err(ErrorCode::UnknownTopicOrPartition),
        };
        self.call(shard, op)
            .await
            .map_err(|_| ErrorCode::UnknownServerError)
    }

    /// Makes `next` this shard's metadata: opens the logs of new partitions it owns, then
    /// publishes the snapshot, then closes and deletes the logs of deleted topics.
    async fn apply_metadata(self: &Rc<Self>, next: ClusterMeta) {
        for topic in next.topics.values() {
            for (index, partition) in topic.partitions.iter().enumerate() {
                let index = index as i32;
                if !self.owns(&topic.name, index, partition) {
                    continue;
                }
                let open = self
                    .logs
                    .borrow()
                    .get(&topic.name)
                    .filter(|t| t.id == topic.id)
                    .and_then(|t| t.partitions.get(&index).cloned());
                if let Some(log) = open {
                    self.take_role(&log, partition).await;
                    // AlterConfigs: Kafka applies topic configs to live logs without a restart.
                    let changed = self
                        .meta
                        .borrow()
                        .topics
                        .get(&topic.name)
                        .is_some_and(|old| old.configs != topic.configs);
                    if changed {
                        let mut config = topic.configs.log_config(&self.config.log);
                        config.preallocate_bytes = log.config().preallocate_bytes;
                        log.set_config(config);
                    }
                    continue;
                }
                let mut config = topic.configs.log_config(&self.config.log);
                if crate::metadata::is_internal_topic(&topic.name) {
                    // Small records, many partitions: do not reserve 16 MiB ahead for each.
                    config.preallocate_bytes = 1 << 20;
                }
                match PartitionLog::open(
                    &self.log_dir,
                    &topic.name,
                    index,
                    config,
                    self.clock.clone(),
                )
                .await
                {
                    Ok(log) => {
                        self.take_role(&log, partition).await;
                        self.logs
                            .borrow_mut()
                            .entry(topic.name.clone())
                            .or_insert_with(|| TopicLogs {
                                id: topic.id,
                                partitions: BTreeMap::new(),
                            })
                            .partitions
                            .insert(index, log);
                    }
                    Err(e) => {
                        tracing::error!(
                            topic = %topic.name,
                            partition = index,
                            error = %e,
                            "cannot open partition log; it stays offline"
                        );
                        self.offline.borrow_mut().insert(TopicPartition {
                            topic: topic.name.clone(),
                            partition: index,
                        });
                    }
                }
            }
        }
        let removed: Vec<Rc<PartitionLog>> = {
            let mut logs = self.logs.borrow_mut();
            let gone: Vec<String> = logs
                .iter()
                .filter(|(name, t)| next.topics.get(*name).is_none_or(|m| m.id != t.id))
                .map(|(name, _)| name.clone())
                .collect();
            gone.iter()
                .filter_map(|name| logs.remove(name))
                .flat_map(|t| t.partitions.into_values())
                .collect()
        };
        self.offline.borrow_mut().retain(|tp| {
            next.topics
                .get(&tp.topic)
                .is_some_and(|t| t.partition(tp.partition).is_some())
        });
        *self.meta.borrow_mut() = Rc::new(next);
        for log in removed {
            self.metrics.forget(&TopicPartition {
                topic: log.topic().to_string(),
                partition: log.partition(),
            });
            if let Err(e) = log.close().await {
                tracing::warn!(error = %e, "closing a deleted partition's log");
            }
            let dir = log.dir().to_path_buf();
            let result = blocking(move || std::fs::remove_dir_all(&dir)).await;
            match result {
                Ok(()) => tracing::info!(
                    topic = log.topic(),
                    partition = log.partition(),
                    "deleted partition log"
                ),
                Err(e) => {
                    tracing::error!(path = %log.dir().display(), error = %e, "cannot delete partition directory")
                }
            }
        }
    }

    /// This broker became the leader of `__consumer_offsets` partition `log`: it becomes the
    /// coordinator of its groups, loading their metadata and committed offsets from the log
    /// (replicated from the previous coordinator) in place of whatever it knew before.
    async fn load_coordinator_partition(&self, log: &Rc<PartitionLog>) {
        let partition = log.partition();
        self.unload_coordinator_partition(partition);
        self.loading_offsets.borrow_mut().insert(partition);
        let coordinator = Rc::new(GroupCoordinator::new(self.group_config.clone()));
        let loaded = crate::group::load_offsets(&coordinator, log).await;
        self.loading_offsets.borrow_mut().remove(&partition);
        // Leadership may have moved on while the log was read.
        if !log.is_leader() {
            return;
        }
        self.coordinators.borrow_mut().insert(
            partition,
            group_ops::Coordinator {
                log: log.clone(),
                groups: coordinator,
            },
        );
        tracing::info!(
            partition,
            records = loaded,
            "now the coordinator of this offsets partition's groups: loaded from the log"
        );
    }

    /// This broker no longer leads `__consumer_offsets` partition `partition`: its groups'
    /// coordinator goes, answering their waiting joins and syncs.
    fn unload_coordinator_partition(&self, partition: i32) {
        let Some(coordinator) = self.coordinators.borrow_mut().remove(&partition) else {
            return;
        };
        let unloaded = coordinator.groups.remove_all();
        if unloaded > 0 {
            tracing::info!(
                partition,
                groups = unloaded,
                "no longer the coordinator of these groups: their offsets partition has a new leader"
            );
        }
    }

    /// The group coordinator of `__consumer_offsets` partition `partition`, when this shard
    /// has it (it owns the partition, this broker leads it, and its groups are loaded).
    pub fn coordinator(&self, partition: i32) -> Option<group_ops::Coordinator> {
        self.coordinators.borrow().get(&partition).cloned()
    }

    /// Every group coordinator of this shard.
    pub fn coordinators(&self) -> Vec<group_ops::Coordinator> {
        self.coordinators.borrow().values().cloned().collect()
    }

    /// This shard's metric samples, with the offsets of the logs it owns.
    pub fn metric_samples(&self) -> Vec<crate::metrics::Sample> {
        let logs: Vec<_> = self
            .all_logs()
            .iter()
            .map(|log| crate::metrics::LogOffsets {
                tp: TopicPartition {
                    topic: log.topic().to_string(),
                    partition: log.partition(),
                },
                log_start_offset: log.log_start_offset(),
                high_watermark: log.high_watermark(),
                log_end_offset: log.log_end_offset(),
                replication: self.replication_sample(log),
            })
            .collect();
        // The cluster-wide count once per broker, from shard 0.
        let offline = (self.id == 0 && !self.config.cluster.is_single_node()).then(|| {
            self.meta
                .borrow()
                .topics
                .values()
                .flat_map(|t| &t.partitions)
                .filter(|p| p.leader == crate::metadata::NO_LEADER)
                .count() as u64
        });
        self.metrics.samples(
            self.id,
            &logs,
            self.request_memory.in_use(),
            self.log_dir.read_ahead_stats(),
            offline,
        )
    }

    /// A partition's replication for `/metrics` (clusters only).
    fn replication_sample(&self, log: &PartitionLog) -> Option<crate::metrics::ReplicationSample> {
        if self.config.cluster.is_single_node() {
            return None;
        }
        let meta = self.meta.borrow();
        let p = meta.topics.get(log.topic())?.partition(log.partition())?;
        let leader = log.is_leader() && p.leader == self.config.broker_id;
        Some(crate::metrics::ReplicationSample {
            leader,
            under_replicated: p.isr.len() < p.replicas.len(),
            under_min_isr: p.isr.len() < log.config().min_insync_replicas as usize,
            follower_lag: if leader {
                log.follower_lag()
            } else {
                Vec::new()
            },
        })
    }

    /// Every shard's samples (over the mesh), rendered as Prometheus text: `/metrics`.
    pub async fn scrape_metrics(self: &Rc<Self>) -> String {
        let mut samples = self.metric_samples();
        for peer in (0..self.count).filter(|&peer| peer != self.id) {
            match self.call(peer, ShardOp::Metrics).await {
                Ok(ShardReply::Metrics(theirs)) => samples.extend(theirs),
                Ok(_) | Err(_) => tracing::warn!(peer, "shard gave no metrics"),
            }
        }
        crate::metrics::render(samples)
    }

    /// All open logs of this shard (retention, shutdown).
    /// This shard's partition logs with their partitions' current metadata (the replica
    /// fetchers and the ISR manager pick the ones they follow or lead).
    pub fn local_replicas(&self) -> Vec<crate::replication::LocalReplica> {
        let meta = self.meta.borrow();
        let mut replicas = Vec::new();
        for (name, topic_logs) in self.logs.borrow().iter() {
            let Some(topic) = meta.topics.get(name).filter(|t| t.id == topic_logs.id) else {
                continue;
            };
            for (index, log) in &topic_logs.partitions {
                let Some(state) = topic.partition(*index) else {
                    continue;
                };
                replicas.push(crate::replication::LocalReplica {
                    tp: TopicPartition {
                        topic: name.clone(),
                        partition: *index,
                    },
                    topic_id: topic.id,
                    log: log.clone(),
                    state: state.clone(),
                });
            }
        }
        replicas
    }

    fn all_logs(&self) -> Vec<Rc<PartitionLog>> {
        self.logs
            .borrow()
            .values()
            .flat_map(|t| t.partitions.values().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{TopicMeta, NO_LEADER};

    fn meta_with(partitions: Vec<PartitionMeta>) -> ClusterMeta {
        let mut meta = ClusterMeta::default();
        meta.topics.insert(
            "t".into(),
            TopicMeta {
                name: "t".into(),
                id: uuid::Uuid::new_v4(),
                partitions,
                configs: Default::default(),
            },
        );
        meta
    }

    #[test]
    fn requests_go_to_the_local_shard_only_where_this_broker_leads() {
        let offline = PartitionMeta {
            leader: NO_LEADER,
            ..PartitionMeta::single_replica(1)
        };
        let meta = meta_with(vec![
            PartitionMeta::single_replica(1),
            PartitionMeta::single_replica(2),
            offline,
        ]);
        assert_eq!(
            route(&meta, 1, 4, "t", 0),
            Route::Local(place_partition("t", 0, 4) as usize)
        );
        assert_eq!(route(&meta, 1, 4, "t", 1), Route::Remote { leader: 2 });
        assert_eq!(
            route(&meta, 1, 4, "t", 2),
            Route::Remote { leader: NO_LEADER }
        );
        assert_eq!(route(&meta, 1, 4, "t", 3), Route::Unknown);
        assert_eq!(route(&meta, 1, 4, "u", 0), Route::Unknown);
        assert_eq!(
            route(&meta, 1, 4, "t", 1).local(),
            Err(ErrorCode::NotLeaderOrFollower)
        );
        assert_eq!(
            route(&meta, 1, 4, "u", 0).local(),
            Err(ErrorCode::UnknownTopicOrPartition)
        );
    }

    #[test]
    fn placement_on_shards_follows_the_shard_count_not_the_metadata() {
        let meta = meta_with(vec![PartitionMeta::single_replica(0); 8]);
        for shards in [1, 2, 3] {
            for p in 0..8 {
                let Route::Local(shard) = route(&meta, 0, shards, "t", p) else {
                    panic!("partition {p} is led here");
                };
                assert!(shard < shards);
            }
        }
    }
}
