//! What one shard asks of another, and the answers: partition work runs on the partition's
//! owner, metadata changes on the controller shard.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::controller::{ControllerOp, ControllerReply};
use super::group_ops::{self, GroupOp, GroupReply};
use super::Shard;
use crate::error_code::ErrorCode;
use crate::log::{
    AppendInfo, Durability, LogError, PartitionLog, ReadBatches, TimestampOffset, NO_EPOCH,
};
use crate::metadata::ClusterMeta;
use crate::protocol::fetch_session::FetchEpochs;
use crate::record::RecordError;
use crate::replication::read_replica::{preferred_read_replica, ReadCandidate};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

pub enum ShardOp {
    /// Append a produce request's records and answer when `acks` is met.
    Produce {
        tp: TopicPartition,
        records: Bytes,
        acks: i16,
        /// The produce request's `timeout_ms`: how long acks=all waits for the ISR.
        timeout: Duration,
        /// The client, for the log line when its records are refused.
        peer: std::net::SocketAddr,
    },
    Read {
        tp: TopicPartition,
        offset: i64,
        max_bytes: usize,
        reader: Reader,
        epochs: FetchEpochs,
    },
    /// Answer once the partition holds `offset` (or after `timeout`): a fetch's long poll.
    /// A consumer waits for the high watermark, a follower (`replica`) for written records.
    WaitForAppend {
        tp: TopicPartition,
        offset: i64,
        timeout: Duration,
        replica: bool,
    },
    Offsets {
        tp: TopicPartition,
    },
    /// ListOffsets by timestamp; Kafka's -3 (MAX_TIMESTAMP) included.
    OffsetForTimestamp {
        tp: TopicPartition,
        timestamp_ms: i64,
        /// KIP-320's check (-1: none).
        current_leader_epoch: i32,
        /// ListOffsets v2+ isolation level READ_COMMITTED: the latest offset is the LSO.
        read_committed: bool,
    },
    /// WriteTxnMarkers on the partition's leader: a transaction's commit or abort marker.
    WriteMarker {
        tp: TopicPartition,
        marker: crate::record::TxnMarker,
    },
    /// OffsetForLeaderEpoch: where `leader_epoch` ended in the leader's log.
    EndOffsetForEpoch {
        tp: TopicPartition,
        current_leader_epoch: i32,
        leader_epoch: i32,
    },
    Controller(ControllerOp),
    ApplyMetadata(Box<ClusterMeta>),
    Group(GroupOp),
    /// Transaction coordinator work, on the owner of the id's `__transaction_state` partition.
    Txn(super::txn_ops::TxnOp),
    /// DeleteRecords: move the log start offset up to `offset` (-1: the high watermark).
    DeleteRecords {
        tp: TopicPartition,
        offset: i64,
    },
    /// This shard's metric samples, for a `/metrics` scrape.
    Metrics,
    /// Count a new connection from `ip` on the address's owner shard, unless the address is at
    /// `max.connections.per.ip` (see `net::limits`).
    AdmitAddress(std::net::IpAddr),
    /// A connection from `ip` closed.
    ReleaseAddress(std::net::IpAddr),
    /// Bytes (or request time, in percent of a second) of a client with a quota, recorded on
    /// the shard that measures its quota entity (negative: taken back); answered with the
    /// throttle in ms (KIP-219).
    RecordQuota {
        key: crate::security::quota::SensorKey,
        quota: f64,
        amount: f64,
    },
}

impl ShardOp {
    /// The partition a partition operation acts on (its owner runs it).
    pub fn partition(&self) -> Option<&TopicPartition> {
        match self {
            ShardOp::Produce { tp, .. }
            | ShardOp::Read { tp, .. }
            | ShardOp::WaitForAppend { tp, .. }
            | ShardOp::Offsets { tp }
            | ShardOp::OffsetForTimestamp { tp, .. }
            | ShardOp::EndOffsetForEpoch { tp, .. }
            | ShardOp::WriteMarker { tp, .. }
            | ShardOp::DeleteRecords { tp, .. } => Some(tp),
            ShardOp::Controller(_)
            | ShardOp::ApplyMetadata(_)
            | ShardOp::Group(_)
            | ShardOp::Txn(_)
            | ShardOp::Metrics
            | ShardOp::AdmitAddress(_)
            | ShardOp::ReleaseAddress(_)
            | ShardOp::RecordQuota { .. } => None,
        }
    }
}

/// Who a fetch reads for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// A follower's fetch (Fetch's replica id): it reads up to the leader's written end, and
    /// its fetch offset tells the leader how far it has the log.
    Follower(i32),
    /// A consumer, below the high watermark. `follower_may_serve`: Fetch v11+, which a
    /// follower serves too (KIP-392); `rack`: its `client.rack`, for the leader to send it to a
    /// follower in that rack; `read_committed`: isolation level READ_COMMITTED (KIP-98), below
    /// the last stable offset, with the aborted transactions of what it reads.
    Consumer {
        rack: Option<String>,
        follower_may_serve: bool,
        read_committed: bool,
    },
}

impl Reader {
    pub fn follower(&self) -> Option<i32> {
        match self {
            Reader::Follower(id) => Some(*id),
            Reader::Consumer { .. } => None,
        }
    }

    /// Whether this broker's follower copy may serve the read (routing by replica, not by
    /// leader).
    pub fn served_by_followers(&self) -> bool {
        matches!(
            self,
            Reader::Consumer {
                follower_may_serve: true,
                ..
            }
        )
    }
}

/// Log start, high watermark and last stable offset of a partition, with its leader epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub leader_epoch: i32,
}

pub struct PartitionRead {
    pub result: Result<ReadBatches, ErrorCode>,
    /// -1 when the partition is unknown.
    pub offsets: Option<PartitionOffsets>,
    /// The fetcher's log diverges from this leader's: the epoch and end offset to cut it to
    /// (Fetch v12's `diverging_epoch`); no records come with it.
    pub diverging: Option<(i32, i64)>,
    /// KIP-392: the consumer should fetch from this follower instead; no records come with it.
    pub preferred_read_replica: Option<i32>,
    /// A read_committed read: the aborted transactions overlapping the records returned.
    pub aborted: Option<Vec<crate::log::transactions::AbortedTxn>>,
}

impl PartitionRead {
    pub fn refused(code: ErrorCode) -> Self {
        PartitionRead {
            result: Err(code),
            offsets: None,
            diverging: None,
            preferred_read_replica: None,
            aborted: None,
        }
    }
}

/// Why a partition's records were refused: the code, and for Produce v8+ the message and the
/// records at fault (KIP-467), so that a client fails exactly those records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceError {
    pub code: ErrorCode,
    pub message: Option<String>,
    /// (position of the record in its batch, why it was refused).
    pub record_errors: Vec<(i32, String)>,
}

impl From<ErrorCode> for ProduceError {
    fn from(code: ErrorCode) -> Self {
        ProduceError {
            code,
            message: None,
            record_errors: Vec::new(),
        }
    }
}

impl ProduceError {
    /// Kafka's answer for a refused append: the record errors where the fault is a record's,
    /// and the error's text as the message.
    fn from_log(error: &LogError, tp: &TopicPartition) -> Self {
        let record_errors: Vec<(i32, String)> = match error {
            LogError::Record(RecordError::KeylessRecordOnCompactedTopic { batch_indexes }) => {
                batch_indexes
                    .iter()
                    .map(|&index| {
                        (
                            index,
                            format!(
                                "Compacted topic cannot accept message without key in topic \
                                 partition {tp}."
                            ),
                        )
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        // Kafka's RecordValidationException message: the count and the first three.
        let message = if record_errors.is_empty() {
            error.to_string()
        } else {
            let shown: Vec<String> = record_errors
                .iter()
                .take(3)
                .map(|(index, why)| format!("record {index}: {why}"))
                .collect();
            format!(
                "One or more records have been rejected due to {} record errors in total, and \
                 only showing the first three errors at most: [{}]",
                record_errors.len(),
                shown.join(", ")
            )
        };
        ProduceError {
            code: error.error_code(),
            message: Some(message),
            record_errors,
        }
    }
}

pub enum ShardReply {
    Produced(Result<AppendInfo, ProduceError>),
    Read(PartitionRead),
    Woken,
    Offsets(Result<PartitionOffsets, ErrorCode>),
    OffsetForTimestamp(Result<Option<FoundOffset>, ErrorCode>),
    /// (epoch, end offset), Kafka's UNDEFINED (-1, -1) when the log has no answer.
    EndOffsetForEpoch(Result<(i32, i64), ErrorCode>),
    MarkerWritten(Result<(), ErrorCode>),
    Controller(ControllerReply),
    MetadataApplied,
    Group(GroupReply),
    Txn(super::txn_ops::TxnReply),
    /// The new log start offset (Kafka's low watermark).
    RecordsDeleted(Result<i64, ErrorCode>),
    Metrics(Vec<crate::metrics::Sample>),
    /// Whether the connection was counted (false: the address is at its limit).
    AddressAdmitted(bool),
    AddressReleased,
    /// How long the client is throttled, in ms.
    Throttle(u64),
}

impl ShardReply {
    /// Makes the reply fit to leave this shard: a read's bytes that lend this shard's read
    /// buffers are copied (see [`ReadBatches::unbind_from_shard`]). The mesh calls it on every
    /// reply it sends to another shard.
    pub fn unbind_from_shard(&mut self) {
        if let ShardReply::Read(PartitionRead {
            result: Ok(batches),
            ..
        }) = self
        {
            batches.unbind_from_shard();
        }
    }
}

/// Runs `op` on this shard (its owner).
pub async fn execute(shard: Rc<Shard>, op: ShardOp) -> ShardReply {
    match op {
        ShardOp::Produce {
            tp,
            records,
            acks,
            timeout,
            peer,
        } => {
            let started = std::time::Instant::now();
            let bytes = records.len();
            let result = produce(&shard, &tp, records, acks, timeout, peer).await;
            shard
                .metrics
                .produced(&tp, bytes, started.elapsed(), result.is_ok());
            ShardReply::Produced(result)
        }
        ShardOp::Read {
            tp,
            offset,
            max_bytes,
            reader,
            epochs,
        } => {
            let started = std::time::Instant::now();
            let read = match reader {
                // A follower's read runs in replication's task queue: catching followers up
                // on old data does not starve consumers of this core and disk, nor the reverse.
                Reader::Follower(_) => {
                    let (shard, tp) = (shard.clone(), tp.clone());
                    let queue = shard.replication_queue;
                    let task =
                        async move { read(&shard, &tp, offset, max_bytes, &reader, epochs).await };
                    match glommio::spawn_local_into(task, queue) {
                        Ok(task) => task.await,
                        // Only an unknown queue fails here: the queue lives as long as the shard.
                        Err(e) => {
                            tracing::error!(error = %e, "cannot run a follower's read in the replication queue");
                            PartitionRead::refused(ErrorCode::UnknownServerError)
                        }
                    }
                }
                Reader::Consumer { .. } => {
                    read(&shard, &tp, offset, max_bytes, &reader, epochs).await
                }
            };
            if let Ok(batches) = &read.result {
                shard
                    .metrics
                    .fetched(&tp, batches.size_bytes, started.elapsed());
            }
            ShardReply::Read(read)
        }
        ShardOp::WaitForAppend {
            tp,
            offset,
            timeout,
            replica,
        } => {
            if let Some(log) = shard.log(&tp) {
                let _ = glommio::timer::timeout(timeout, async {
                    match replica {
                        true => log.wait_for_write(offset).await,
                        false => log.wait_for_append(offset).await,
                    }
                    Ok(())
                })
                .await;
            }
            ShardReply::Woken
        }
        ShardOp::Offsets { tp } => {
            ShardReply::Offsets(shard.open_log(&tp).map(|log| shard.offsets_of(&log)))
        }
        ShardOp::OffsetForTimestamp {
            tp,
            timestamp_ms,
            current_leader_epoch,
            read_committed,
        } => ShardReply::OffsetForTimestamp(
            offset_for_timestamp(
                &shard,
                &tp,
                timestamp_ms,
                current_leader_epoch,
                read_committed,
            )
            .await,
        ),
        ShardOp::WriteMarker { tp, marker } => {
            ShardReply::MarkerWritten(write_marker(&shard, &tp, marker).await)
        }
        ShardOp::EndOffsetForEpoch {
            tp,
            current_leader_epoch,
            leader_epoch,
        } => ShardReply::EndOffsetForEpoch(shard.open_log(&tp).and_then(|log| {
            // Kafka answers from the leader only (the route checked that this broker leads).
            log.check_leader_epoch(current_leader_epoch)?;
            Ok(log.end_offset_for_epoch(leader_epoch))
        })),
        ShardOp::Controller(op) => ShardReply::Controller(shard.controller_execute(op).await),
        ShardOp::ApplyMetadata(meta) => {
            shard.apply_metadata(*meta).await;
            ShardReply::MetadataApplied
        }
        ShardOp::Group(op) => ShardReply::Group(group_ops::execute(shard, op).await),
        ShardOp::Txn(op) => ShardReply::Txn(super::txn_ops::execute(shard, op).await),
        ShardOp::DeleteRecords { tp, offset } => {
            ShardReply::RecordsDeleted(delete_records(&shard, &tp, offset).await)
        }
        ShardOp::Metrics => ShardReply::Metrics(shard.metric_samples()),
        ShardOp::RecordQuota { key, quota, amount } => {
            let now = crate::protocol::quota_clock_ms();
            let mut quotas = shard.quotas.borrow_mut();
            ShardReply::Throttle(match amount < 0.0 {
                true => {
                    quotas.unrecord(&key, -amount, now);
                    0
                }
                false => quotas.record(&key, quota, amount, now),
            })
        }
        ShardOp::AdmitAddress(ip) => {
            let limit = shard.config.connections.limit_for(ip);
            ShardReply::AddressAdmitted(shard.address_connections.admit(ip, limit))
        }
        ShardOp::ReleaseAddress(ip) => {
            shard.address_connections.release(ip);
            ShardReply::AddressReleased
        }
    }
}

async fn produce(
    shard: &Shard,
    tp: &TopicPartition,
    records: Bytes,
    acks: i16,
    timeout: Duration,
    peer: std::net::SocketAddr,
) -> Result<AppendInfo, ProduceError> {
    let log = shard.open_log(tp)?;
    if acks == -1 {
        // Kafka's check before an acks=all append (Partition.appendRecordsToLeader): an ISR
        // smaller than min.insync.replicas cannot make the write as durable as asked.
        let isr = log.isr_size();
        let min_isr = log.config().min_insync_replicas as usize;
        if isr < min_isr {
            tracing::info!(%peer, partition = %tp, isr, min_isr, "acks=all produce refused: the ISR is smaller than min.insync.replicas");
            return Err(ProduceError {
                code: ErrorCode::NotEnoughReplicas,
                message: Some(format!(
                    "the in-sync replicas of {tp} are {isr}, fewer than min.insync.replicas={min_isr}"
                )),
                record_errors: Vec::new(),
            });
        }
    }
    let info = log.append(records).map_err(|e| {
        tracing::warn!(%peer, partition = %tp, error = %e, code = %e.error_code(), "produce rejected");
        ProduceError::from_log(&e, tp)
    })?;
    // acks=1: the leader has written the batch to its log file (Kafka: to its page cache), so it
    // survives a crash of the broker process. acks=all: the flush policy's durability, by
    // default fdatasync (single node: the leader is the whole ISR).
    let level = match acks {
        0 => return Ok(info),
        1 => Durability::Written,
        _ => log.ack_durability(),
    };
    log.wait_for(info.last_offset + 1, level)
        .await
        .map_err(|e| {
            tracing::error!(partition = %tp, error = %e, "append not made durable");
            ProduceError::from_log(&e, tp)
        })?;
    if acks == -1 {
        // acks=all: every in-sync replica has the batch once the high watermark passes it.
        let replicated = glommio::timer::timeout(timeout, async {
            Ok(log.wait_for_high_watermark(info.last_offset + 1).await)
        })
        .await;
        match replicated {
            Err(_) => return Err(ErrorCode::RequestTimedOut.into()),
            Ok(Err(code)) => return Err(code.into()),
            Ok(Ok(())) => {}
        }
        // Kafka's check when the wait completes: an ISR that shrank below
        // min.insync.replicas meanwhile did not give the durability asked for.
        let isr = log.isr_size();
        let min_isr = log.config().min_insync_replicas as usize;
        if isr < min_isr {
            return Err(ProduceError {
                code: ErrorCode::NotEnoughReplicasAfterAppend,
                message: Some(format!(
                    "the batch was appended, but the in-sync replicas of {tp} shrank to {isr}, fewer than min.insync.replicas={min_isr}"
                )),
                record_errors: Vec::new(),
            });
        }
    }
    Ok(info)
}

async fn read(
    shard: &Shard,
    tp: &TopicPartition,
    offset: i64,
    max_bytes: usize,
    reader: &Reader,
    epochs: FetchEpochs,
) -> PartitionRead {
    let refused = PartitionRead::refused;
    let replica = reader.follower();
    let log = match shard.open_log(tp) {
        Ok(log) => log,
        Err(code) => return refused(code),
    };
    if let Err(code) = log.check_leader_epoch(epochs.current_leader_epoch) {
        tracing::debug!(partition = %tp, ?replica, requested = epochs.current_leader_epoch, ours = log.leader_epoch(), error = %code, "fetch in another leader epoch");
        return refused(code);
    }
    // Checked before the fetch counts as the follower's progress: a diverging log does not
    // have the leader's records below its fetch offset.
    if let Some(diverging) = log.diverging_epoch(epochs.last_fetched_epoch, offset) {
        tracing::info!(partition = %tp, ?replica, fetch_offset = offset, last_fetched_epoch = epochs.last_fetched_epoch, ?diverging, "fetcher's log diverges from the leader's");
        return PartitionRead {
            result: Ok(ReadBatches::default()),
            offsets: Some(shard.offsets_of(&log)),
            diverging: Some(diverging),
            preferred_read_replica: None,
            aborted: None,
        };
    }
    // Consumers are served below the high watermark only (KIP-101's committed offsets); a
    // follower reads what the leader has written, and its fetch offset is its log end.
    let end = match reader {
        Reader::Consumer {
            rack,
            follower_may_serve,
            read_committed,
        } => {
            if !log.is_leader() && !follower_may_serve {
                return refused(ErrorCode::NotLeaderOrFollower);
            }
            if let Some(follower) = rack
                .as_deref()
                .and_then(|rack| closer_replica(shard, &log, rack, offset))
            {
                // KIP-392: no records; the consumer comes back to that follower at once.
                return PartitionRead {
                    result: Ok(ReadBatches::default()),
                    offsets: Some(shard.offsets_of(&log)),
                    diverging: None,
                    preferred_read_replica: Some(follower),
                    aborted: None,
                };
            }
            match read_committed {
                true => log.last_stable_offset(),
                false => log.high_watermark(),
            }
        }
        Reader::Follower(follower) => {
            let follower = *follower;
            if !shard.is_replica(tp, follower) || !log.is_leader() {
                tracing::info!(partition = %tp, follower, "replica fetch from a broker that is not a follower of this leader");
                return refused(ErrorCode::NotLeaderOrFollower);
            }
            if offset <= log.log_end_offset() {
                log.follower_fetched(follower, offset);
            }
            log.written_offset()
        }
    };
    let result = log.read_below(offset, max_bytes, end).await.map_err(|e| {
        if e.error_code() != ErrorCode::OffsetOutOfRange {
            tracing::error!(partition = %tp, error = %e, "read failed");
        }
        e.error_code()
    });
    // A follower asked for an offset it does not have by a consumer that named no leader
    // epoch may have come on stale metadata: Kafka answers with no records rather than
    // OFFSET_OUT_OF_RANGE, which would make it reset its position (KAFKA-14274).
    let result = match result {
        Err(ErrorCode::OffsetOutOfRange)
            if replica.is_none() && !log.is_leader() && epochs.current_leader_epoch == NO_EPOCH =>
        {
            Ok(ReadBatches::default())
        }
        other => other,
    };
    // KIP-98: a read_committed consumer drops the records of the aborted transactions that
    // overlap what it got (Kafka's `collectAbortedTxns` up to the last offset returned).
    let aborted = match (reader, &result) {
        (
            Reader::Consumer {
                read_committed: true,
                ..
            },
            Ok(batches),
        ) => Some(match batches.last_offset() {
            Some(last) => log.aborted_between(offset, last + 1),
            None => Vec::new(),
        }),
        _ => None,
    };
    PartitionRead {
        result,
        offsets: Some(shard.offsets_of(&log)),
        diverging: None,
        preferred_read_replica: None,
        aborted,
    }
}

/// WriteTxnMarkers for one partition, on its leader: the marker is appended and made as
/// durable as an `acks=all` write (Kafka appends markers with acks=-1) before the
/// coordinator hears that the transaction is complete here.
async fn write_marker(
    shard: &Shard,
    tp: &TopicPartition,
    marker: crate::record::TxnMarker,
) -> Result<(), ErrorCode> {
    let log = shard.open_log(tp)?;
    if !log.is_leader() {
        return Err(ErrorCode::NotLeaderOrFollower);
    }
    let info = log.append_marker(marker).map_err(|e| {
        tracing::warn!(partition = %tp, producer_id = marker.producer_id, error = %e, "transaction marker refused");
        e.error_code()
    })?;
    log.wait_for(info.last_offset + 1, log.ack_durability())
        .await
        .map_err(|e| e.error_code())?;
    log.wait_for_high_watermark(info.last_offset + 1).await?;
    // Offsets committed inside the transaction (TxnOffsetCommit) now count, or go.
    if tp.topic == crate::group::store::OFFSETS_TOPIC {
        if let Some(coordinator) = shard.coordinator(tp.partition) {
            coordinator
                .groups
                .complete_txn(marker.producer_id, marker.commit);
        }
    }
    Ok(())
}

/// On a leader with `replica.selector.class` set to the rack-aware selector: the in-sync
/// follower in the consumer's `rack` that it should fetch from instead (KIP-392).
fn closer_replica(shard: &Shard, log: &PartitionLog, rack: &str, offset: i64) -> Option<i32> {
    if !shard.config.cluster.rack_aware_reads || !log.is_leader() {
        return None;
    }
    let meta = shard.meta();
    let candidates: Vec<ReadCandidate> = log
        .in_sync_follower_ends()
        .into_iter()
        .filter_map(|(id, log_end)| {
            let broker = meta.brokers.get(&id).filter(|b| !b.fenced)?;
            Some(ReadCandidate {
                id,
                rack: broker.rack.clone(),
                log_end,
            })
        })
        .collect();
    preferred_read_replica(
        rack,
        shard.config.cluster.rack.as_deref(),
        &candidates,
        offset,
    )
}

/// Kafka's ListOffsets special timestamps.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

/// A ListOffsets answer: the offset, its timestamp (-1 for earliest and latest) and the
/// leader epoch Kafka reports with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundOffset {
    pub timestamp_ms: i64,
    pub offset: i64,
    pub leader_epoch: i32,
}

async fn offset_for_timestamp(
    shard: &Shard,
    tp: &TopicPartition,
    timestamp_ms: i64,
    current_leader_epoch: i32,
    read_committed: bool,
) -> Result<Option<FoundOffset>, ErrorCode> {
    let log = shard.open_log(tp)?;
    log.check_leader_epoch(current_leader_epoch)?;
    let found = match timestamp_ms {
        LATEST_TIMESTAMP => {
            // Kafka reports the partition's current leader epoch with the latest offset; a
            // read_committed consumer's latest is the last stable offset.
            return Ok(Some(FoundOffset {
                timestamp_ms: -1,
                offset: match read_committed {
                    true => log.last_stable_offset(),
                    false => log.high_watermark(),
                },
                leader_epoch: log.leader_epoch(),
            }));
        }
        EARLIEST_TIMESTAMP => Some(TimestampOffset {
            timestamp_ms: -1,
            offset: log.log_start_offset(),
        }),
        MAX_TIMESTAMP => log.max_timestamp(),
        t if t < 0 => return Err(ErrorCode::InvalidRequest),
        t => log.offset_for_timestamp(t).await.map_err(|e| {
            tracing::error!(partition = %tp, error = %e, "offset for timestamp failed");
            e.error_code()
        })?,
    };
    // Otherwise the epoch of the leader that wrote the record there.
    Ok(found.map(|f| FoundOffset {
        timestamp_ms: f.timestamp_ms,
        offset: f.offset,
        leader_epoch: log.epoch_for_offset(f.offset).unwrap_or(NO_EPOCH),
    }))
}

/// DeleteRecords on the owner: Kafka's rules are -1 for "up to the high watermark" and
/// OFFSET_OUT_OF_RANGE beyond it.
async fn delete_records(shard: &Shard, tp: &TopicPartition, offset: i64) -> Result<i64, ErrorCode> {
    let log = shard.open_log(tp)?;
    let high_watermark = log.high_watermark();
    let target = match offset {
        -1 => high_watermark,
        o if o < 0 || o > high_watermark => return Err(ErrorCode::OffsetOutOfRange),
        o => o,
    };
    log.delete_records_before(target).await.map_err(|e| {
        tracing::error!(partition = %tp, error = %e, "DeleteRecords failed");
        e.error_code()
    })
}
