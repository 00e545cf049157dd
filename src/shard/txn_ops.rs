//! The transaction coordinator's I/O (KIP-98), on the shard that owns a transactional id's
//! `__transaction_state` partition while this broker leads it: requests run the pure
//! [`TxnCoordinator`]'s steps here — its metadata written to the partition (acks=all), then
//! the answer, then, for an ending transaction, its commit or abort markers written to every
//! partition of the transaction (WriteTxnMarkers: on this broker directly, on others over
//! their client listener), and once all are written, the transaction's completion. A new
//! leader of the partition loads it from the log and finishes the transactions its
//! predecessor had decided to end.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use super::ops::{ShardOp, ShardReply, TopicPartition};
use super::Shard;
use crate::error_code::ErrorCode;
use crate::log::PartitionLog;
use crate::record::{BatchBuilder, NewRecord, TxnMarker};
use crate::txn::coordinator::Answer;
use crate::txn::state::ExpectedProducer;
use crate::txn::{
    log_format, state_partition, Markers, Step, TxnCoordinator, TxnMetadata, TxnPartition,
    TRANSACTION_STATE_TOPIC,
};

/// How long a coordinator write waits for the partition's ISR (as offset commits do).
const STATE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one WriteTxnMarkers call to another broker may take.
const MARKER_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of markers (and of a transaction's completion) back off up to this.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// The coordinator of one `__transaction_state` partition and that partition's log.
#[derive(Clone)]
pub struct TxnShell {
    pub log: Rc<PartitionLog>,
    pub coordinator: Rc<RefCell<TxnCoordinator>>,
    /// The partition's leader epoch when this broker took it over: the coordinator epoch its
    /// markers carry.
    pub coordinator_epoch: i32,
}

pub enum TxnOp {
    InitProducerId {
        transactional_id: String,
        timeout_ms: i32,
        expected: Option<ExpectedProducer>,
    },
    AddPartitions {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TxnPartition>,
    },
    /// AddPartitionsToTxn v4+ `verify_only` (KIP-890's check).
    VerifyPartitions {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TxnPartition>,
    },
    EndTxn {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    },
    Describe {
        transactional_id: String,
    },
    /// Every transactional id this shard coordinates.
    List,
}

pub enum TxnReply {
    Answer(Answer),
    Verified(Result<Vec<(TxnPartition, ErrorCode)>, ErrorCode>),
    Described(Result<TxnMetadata, ErrorCode>),
    Listed(Result<Vec<TxnMetadata>, ErrorCode>),
}

impl TxnOp {
    fn transactional_id(&self) -> Option<&str> {
        match self {
            TxnOp::InitProducerId {
                transactional_id, ..
            }
            | TxnOp::AddPartitions {
                transactional_id, ..
            }
            | TxnOp::VerifyPartitions {
                transactional_id, ..
            }
            | TxnOp::EndTxn {
                transactional_id, ..
            }
            | TxnOp::Describe { transactional_id } => Some(transactional_id),
            TxnOp::List => None,
        }
    }
}

/// The `__transaction_state` partition of `transactional_id`, when the topic exists.
pub fn txn_partition_of(shard: &Shard, transactional_id: &str) -> Option<i32> {
    let meta = shard.meta();
    let topic = meta.topics.get(TRANSACTION_STATE_TOPIC)?;
    Some(state_partition(transactional_id, topic.partitions.len()))
}

/// The coordinator that may answer for `transactional_id` now: that of its partition, led
/// here and loaded (COORDINATOR_LOAD_IN_PROGRESS while loading, NOT_COORDINATOR elsewhere).
fn shell_of(shard: &Shard, transactional_id: &str) -> Result<TxnShell, ErrorCode> {
    let partition =
        txn_partition_of(shard, transactional_id).ok_or(ErrorCode::CoordinatorNotAvailable)?;
    if shard.loading_txns.borrow().contains(&partition) {
        return Err(ErrorCode::CoordinatorLoadInProgress);
    }
    match shard.txn_coordinators.borrow().get(&partition) {
        Some(shell) if shell.log.is_leader() => Ok(shell.clone()),
        _ => Err(ErrorCode::NotCoordinator),
    }
}

pub async fn execute(shard: Rc<Shard>, op: TxnOp) -> TxnReply {
    let Some(transactional_id) = op.transactional_id().map(str::to_string) else {
        if !shard.loading_txns.borrow().is_empty() {
            return TxnReply::Listed(Err(ErrorCode::CoordinatorLoadInProgress));
        }
        let shells: Vec<TxnShell> = shard.txn_coordinators.borrow().values().cloned().collect();
        let listed = shells
            .iter()
            .filter(|s| s.log.is_leader())
            .flat_map(|s| s.coordinator.borrow().ids().cloned().collect::<Vec<_>>())
            .collect();
        return TxnReply::Listed(Ok(listed));
    };
    let shell = match shell_of(&shard, &transactional_id) {
        Ok(shell) => shell,
        Err(code) => {
            return match op {
                TxnOp::VerifyPartitions { .. } => TxnReply::Verified(Err(code)),
                TxnOp::Describe { .. } => TxnReply::Described(Err(code)),
                _ => TxnReply::Answer(Err(code)),
            }
        }
    };
    let now_ms = shard.clock.now_ms();
    match op {
        TxnOp::InitProducerId {
            timeout_ms,
            expected,
            ..
        } => {
            let mut fresh = None;
            loop {
                let step = shell.coordinator.borrow_mut().init_producer_id(
                    &transactional_id,
                    timeout_ms,
                    expected,
                    now_ms,
                    fresh,
                );
                if step != Step::NeedProducerId {
                    return TxnReply::Answer(run_step(&shard, &shell, step).await);
                }
                if fresh.is_some() {
                    return TxnReply::Answer(Err(ErrorCode::UnknownServerError));
                }
                match allocate_producer_id(&shard).await {
                    Ok(id) => fresh = Some(id),
                    Err(code) => return TxnReply::Answer(Err(code)),
                }
            }
        }
        TxnOp::AddPartitions {
            producer_id,
            producer_epoch,
            partitions,
            ..
        } => {
            let step = shell.coordinator.borrow_mut().add_partitions(
                &transactional_id,
                producer_id,
                producer_epoch,
                &partitions,
                now_ms,
            );
            TxnReply::Answer(run_step(&shard, &shell, step).await)
        }
        TxnOp::VerifyPartitions {
            producer_id,
            producer_epoch,
            partitions,
            ..
        } => TxnReply::Verified(shell.coordinator.borrow().verify_partitions(
            &transactional_id,
            producer_id,
            producer_epoch,
            &partitions,
        )),
        TxnOp::EndTxn {
            producer_id,
            producer_epoch,
            commit,
            ..
        } => {
            let step = shell.coordinator.borrow_mut().end_txn(
                &transactional_id,
                producer_id,
                producer_epoch,
                commit,
                now_ms,
            );
            TxnReply::Answer(run_step(&shard, &shell, step).await)
        }
        TxnOp::Describe { .. } => TxnReply::Described(
            shell
                .coordinator
                .borrow()
                .get(&transactional_id)
                .cloned()
                .ok_or(ErrorCode::TransactionalIdNotFound),
        ),
        TxnOp::List => unreachable!("handled above: List names no transactional id"),
    }
}

/// A producer id from the controller's blocks (shard 0 holds this node's block).
async fn allocate_producer_id(shard: &Rc<Shard>) -> Result<i64, ErrorCode> {
    use super::controller::{ControllerOp, ControllerReply};
    // Boxed: this runs inside a shard operation, and a shard call may run one inline.
    let call: std::pin::Pin<Box<dyn std::future::Future<Output = _>>> =
        Box::pin(shard.call(0, ShardOp::Controller(ControllerOp::AllocateProducerId)));
    match call.await {
        Ok(ShardReply::Controller(ControllerReply::ProducerId(result))) => result,
        _ => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

/// Performs a coordinator step: an answer as it is, or a write of the id's next metadata and,
/// once it is committed, the answer and (for an ending transaction) the markers, written in
/// the background.
async fn run_step(shard: &Rc<Shard>, shell: &TxnShell, step: Step) -> Answer {
    let (metadata, answer, markers) = match step {
        Step::Answer(answer) => return answer,
        Step::NeedProducerId => return Err(ErrorCode::UnknownServerError),
        Step::Write {
            metadata,
            answer,
            markers,
        } => (metadata, answer, markers),
    };
    let transactional_id = metadata.transactional_id.clone();
    match write_metadata(&shell.log, &metadata).await {
        Ok(()) => {
            shell.coordinator.borrow_mut().written(metadata);
            if let Some(markers) = markers {
                glommio::spawn_local(complete_transaction(shard.clone(), shell.clone(), markers))
                    .detach();
            }
            answer.unwrap_or(Ok(crate::txn::Reply::Done))
        }
        Err(code) => {
            shell
                .coordinator
                .borrow_mut()
                .write_failed(&transactional_id);
            tracing::warn!(%transactional_id, error = %code, "transaction state not written");
            // The producer retries these (Kafka maps a failed state write the same way).
            Err(match code {
                ErrorCode::NotCoordinator => ErrorCode::NotCoordinator,
                _ => ErrorCode::CoordinatorNotAvailable,
            })
        }
    }
}

/// Appends the id's metadata (a tombstone for a Dead id) to its `__transaction_state`
/// partition, durably on every in-sync replica.
async fn write_metadata(log: &PartitionLog, meta: &TxnMetadata) -> Result<(), ErrorCode> {
    let key = log_format::encode_key(&meta.transactional_id);
    let value = (meta.state != crate::txn::TxnState::Dead).then(|| log_format::encode_value(meta));
    let mut builder = BatchBuilder::new();
    builder.push(NewRecord {
        key: Some(&key),
        value: value.as_deref(),
        timestamp_ms: meta.last_update_ms,
    });
    log.append_for_coordinator(builder.build(), STATE_WRITE_TIMEOUT, &meta.transactional_id)
        .await
        .map(|_| ())
}

/// Whether `shell` is still this broker's coordinator of its partition.
fn still_coordinator(shard: &Shard, shell: &TxnShell) -> bool {
    shell.log.is_leader()
        && shard
            .txn_coordinators
            .borrow()
            .get(&shell.log.partition())
            .is_some_and(|current| Rc::ptr_eq(&current.coordinator, &shell.coordinator))
}

/// Writes the markers of an ending transaction to all its partitions, retrying until each
/// has it (or its topic is gone), then completes the transaction (CompleteCommit or
/// CompleteAbort). Stops when this broker stops coordinating the partition: the next
/// coordinator finds the transaction still preparing and does it again.
async fn complete_transaction(shard: Rc<Shard>, shell: TxnShell, markers: Markers) {
    let marker = TxnMarker {
        producer_id: markers.producer_id,
        producer_epoch: markers.producer_epoch,
        commit: markers.commit,
        coordinator_epoch: shell.coordinator_epoch,
    };
    let transactional_id = markers.transactional_id.clone();
    let mut remaining: BTreeSet<TxnPartition> = markers.partitions.into_iter().collect();
    let mut backoff = Duration::from_millis(20);
    loop {
        if !still_coordinator(&shard, &shell) {
            tracing::info!(%transactional_id, "no longer the transaction's coordinator; its next coordinator writes its markers");
            return;
        }
        if remaining.is_empty() {
            let step = shell
                .coordinator
                .borrow_mut()
                .markers_written(&transactional_id, shard.clock.now_ms());
            let Some(step) = step else { return };
            if run_step(&shard, &shell, step).await.is_ok() {
                tracing::debug!(%transactional_id, commit = marker.commit, "transaction complete");
                return;
            }
        } else {
            let done = write_markers(&shard, marker, &remaining).await;
            for partition in done {
                remaining.remove(&partition);
            }
            if remaining.is_empty() {
                continue;
            }
            tracing::debug!(%transactional_id, left = remaining.len(), "transaction markers not written everywhere yet; retrying");
        }
        glommio::timer::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
    }
}

/// One round of WriteTxnMarkers over `partitions`, by leader: the partitions that have the
/// marker now (or no longer exist).
async fn write_markers(
    shard: &Rc<Shard>,
    marker: TxnMarker,
    partitions: &BTreeSet<TxnPartition>,
) -> Vec<TxnPartition> {
    let meta = shard.meta();
    let mut done = Vec::new();
    let mut by_leader: BTreeMap<i32, Vec<TxnPartition>> = BTreeMap::new();
    for p in partitions {
        match meta
            .topics
            .get(&p.topic)
            .map(|t| t.partition(p.partition).map(|s| s.leader))
        {
            // Kafka drops the markers of a deleted topic's partitions.
            None | Some(None) => done.push(p.clone()),
            Some(Some(crate::metadata::NO_LEADER)) => {}
            Some(Some(leader)) => by_leader.entry(leader).or_default().push(p.clone()),
        }
    }
    for (leader, partitions) in by_leader {
        let results = if leader == shard.config.broker_id {
            write_local_markers(shard, marker, &partitions).await
        } else {
            write_remote_markers(shard, leader, marker, &partitions).await
        };
        for (partition, code) in partitions.into_iter().zip(results) {
            match code {
                ErrorCode::None | ErrorCode::UnknownTopicOrPartition => done.push(partition),
                code => {
                    tracing::debug!(topic = %partition.topic, partition = partition.partition, leader, error = %code, "transaction marker not written")
                }
            }
        }
    }
    done
}

async fn write_local_markers(
    shard: &Rc<Shard>,
    marker: TxnMarker,
    partitions: &[TxnPartition],
) -> Vec<ErrorCode> {
    let tasks: Vec<_> = partitions
        .iter()
        .map(|p| {
            let shard = shard.clone();
            let tp = TopicPartition {
                topic: p.topic.clone(),
                partition: p.partition,
            };
            glommio::spawn_local(async move { write_marker_here(&shard, tp, marker).await })
        })
        .collect();
    let mut codes = Vec::with_capacity(tasks.len());
    for task in tasks {
        codes.push(task.await);
    }
    codes
}

/// WriteTxnMarkers for one partition this broker leads, on its owner shard.
pub async fn write_marker_here(
    shard: &Rc<Shard>,
    tp: TopicPartition,
    marker: TxnMarker,
) -> ErrorCode {
    match shard.call_owner(ShardOp::WriteMarker { tp, marker }).await {
        Ok(ShardReply::MarkerWritten(Ok(()))) => ErrorCode::None,
        Ok(ShardReply::MarkerWritten(Err(code))) | Err(code) => code,
        Ok(_) => ErrorCode::UnknownServerError,
    }
}

async fn write_remote_markers(
    shard: &Rc<Shard>,
    leader: i32,
    marker: TxnMarker,
    partitions: &[TxnPartition],
) -> Vec<ErrorCode> {
    let failed = |code: ErrorCode| vec![code; partitions.len()];
    let Some(endpoint) = shard.inter_broker_endpoint(leader) else {
        return failed(ErrorCode::BrokerNotAvailable);
    };
    let request = crate::protocol::write_txn_markers_request(marker, partitions);
    let client_id = format!("weir-txn-coordinator-{}", shard.config.broker_id);
    let response = async {
        let mut connection =
            crate::replication::LeaderConnection::connect_as(&endpoint, client_id, &shard.config)
                .await?;
        connection
            .request(
                kafka_protocol::messages::ApiKey::WriteTxnMarkers,
                crate::protocol::WRITE_TXN_MARKERS_VERSION,
                &request,
                MARKER_CALL_TIMEOUT,
            )
            .await
    }
    .await;
    match response {
        Ok(response) => crate::protocol::write_txn_markers_codes(&response, partitions),
        Err(e) => {
            tracing::debug!(leader, error = %e, "WriteTxnMarkers to another broker failed");
            failed(ErrorCode::BrokerNotAvailable)
        }
    }
}

impl Shard {
    /// This broker became the leader of `__transaction_state` partition `log`: it becomes the
    /// coordinator of its transactional ids, loading them from the log, and finishes the
    /// transactions the previous coordinator had decided to end.
    pub(super) async fn load_txn_partition(
        self: &Rc<Self>,
        log: &Rc<PartitionLog>,
        leader_epoch: i32,
    ) {
        let partition = log.partition();
        self.unload_txn_partition(partition);
        self.loading_txns.borrow_mut().insert(partition);
        let mut coordinator = TxnCoordinator::new(self.config.txn.coordinator);
        let loaded = replay_state(&mut coordinator, log).await;
        self.loading_txns.borrow_mut().remove(&partition);
        if !log.is_leader() {
            return;
        }
        let unfinished = coordinator.unfinished();
        let shell = TxnShell {
            log: log.clone(),
            coordinator: Rc::new(RefCell::new(coordinator)),
            coordinator_epoch: leader_epoch,
        };
        self.txn_coordinators
            .borrow_mut()
            .insert(partition, shell.clone());
        tracing::info!(
            partition,
            records = loaded,
            unfinished = unfinished.len(),
            "now the transaction coordinator of this __transaction_state partition"
        );
        for markers in unfinished {
            glommio::spawn_local(complete_transaction(self.clone(), shell.clone(), markers))
                .detach();
        }
    }

    /// This broker no longer leads `__transaction_state` partition `partition`.
    pub(super) fn unload_txn_partition(&self, partition: i32) {
        if self
            .txn_coordinators
            .borrow_mut()
            .remove(&partition)
            .is_some()
        {
            tracing::info!(
                partition,
                "no longer the transaction coordinator of this __transaction_state partition"
            );
        }
    }
}

/// Replays a `__transaction_state` partition into `coordinator`; returns the records read.
async fn replay_state(coordinator: &mut TxnCoordinator, log: &PartitionLog) -> usize {
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    let mut loaded = 0;
    while offset < end {
        let batches = match log.read(offset, 1 << 20).await.map(|r| r.batches()) {
            Ok(Ok(batches)) if !batches.is_empty() => batches,
            Ok(Ok(_)) => break,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "unreadable batch in __transaction_state; the rest is not loaded");
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read __transaction_state; the rest is not loaded");
                break;
            }
        };
        for batch in &batches {
            offset = batch.last_offset() + 1;
            let Some(records) = batch.record_views() else {
                continue;
            };
            for record in records {
                if let Some(key) = record.key {
                    coordinator.replay(key, record.value);
                    loaded += 1;
                }
            }
        }
    }
    loaded
}

/// The coordinators' timers, every `transaction.abort.timed.out.transaction.cleanup.interval.ms`:
/// transactions open past their timeout are aborted, expired ids forgotten.
pub(super) async fn txn_timer_loop(shard: Rc<Shard>) {
    let interval = Duration::from_millis(shard.config.txn.cleanup_interval_ms.max(10));
    loop {
        glommio::timer::sleep(interval).await;
        let shells: Vec<TxnShell> = shard.txn_coordinators.borrow().values().cloned().collect();
        for shell in shells.into_iter().filter(|s| s.log.is_leader()) {
            let steps = shell
                .coordinator
                .borrow_mut()
                .on_timer(shard.clock.now_ms());
            for step in steps {
                if let Step::Write { metadata, .. } = &step {
                    tracing::info!(transactional_id = %metadata.transactional_id, state = metadata.state.name(), "transaction coordinator timer: aborting a timed-out transaction or forgetting an expired id");
                }
                let (shard, shell) = (shard.clone(), shell.clone());
                glommio::spawn_local(async move {
                    let _ = run_step(&shard, &shell, step).await;
                })
                .detach();
            }
        }
    }
}
