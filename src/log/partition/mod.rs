//! The partition log: offsets, appends, reads, durability, truncation and retention of one
//! Kafka partition, owned by one shard.
//!
//! Appends are synchronous and in memory: they validate the batch, assign offsets and queue it in
//! the tail cache. Writes to the segment files happen in the background (the flusher task) or on
//! demand (a producer waiting for `acks`), one writer at a time, each write covering everything
//! queued so far; so does each `fdatasync` (group commit). No `RefCell` borrow is held across an
//! `.await`: state changes happen between I/O steps, which are planned from a snapshot.

mod append;
mod internal;
mod leader_epochs;
mod read;
mod replica;
mod segments;
mod state;
mod truncate;
mod writer;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::Bytes;
use glommio::io::{DmaBuffer, DmaFile};

pub use append::AppendOrigin;
pub use leader_epochs::NO_EPOCH;
pub use replica::{FetchSource, ReplicaRole};
pub(crate) use segments::{ActiveFile, SealedSegment};
use state::{LogState, WriteStep};
use writer::run_flusher;

use super::config::LogConfig;
use super::dir::{
    blocking, remove_files, sync_dir, write_checkpoint, write_file_atomically, write_txn_index,
    LogDir,
};
use super::epochs::{LeaderEpochCache, LEADER_EPOCH_CHECKPOINT};
use super::error::LogError;
use super::fifo_lock::{FifoLock, FifoLockGuard};
use super::notify::{Notify, WakeAll};
use super::producers::{last_sequence, ProducerStates, SequenceCheck};
use super::read_ahead::{ReadAhead, SegmentSpan, TakenBytes};
use super::recovery;
use super::retention::{segments_to_delete, RetentionLimits, SegmentSummary};
use super::segment::{
    create_segment_file, truncate_and_sync, Segment, SegmentScanner, SegmentState,
};
use super::tail::{CachedBatch, TailCache};
use super::transactions::AbortedTxn;
use crate::clock::Clock;
use crate::record::{
    codec, filter, patch_header, split_batches, PatchedHeader, RecordBatch, RecordError,
    TimestampType, TxnMarker,
};

/// Direct I/O writes whole pages; 4 KiB covers the logical block size of every device we run on.
const PAGE_BYTES: u64 = 4096;
/// Kafka's checkpoint of the log start offset, per partition here.
pub(crate) const LOG_START_CHECKPOINT: &str = "log-start-offset";
/// Kafka's `replication-offset-checkpoint` (the high watermark), per partition here: after a
/// restart, a broker that becomes a follower truncates to it (see `replica`).
pub(crate) const HIGH_WATERMARK_CHECKPOINT: &str = "high-watermark";

fn align_down(v: u64) -> u64 {
    v & !(PAGE_BYTES - 1)
}

fn align_up(v: u64) -> u64 {
    align_down(v + PAGE_BYTES - 1)
}

/// How far an append must have gone before a producer hears back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// In the segment file: survives a crash of the process (Kafka's page cache equivalent).
    Written,
    /// Covered by `fdatasync`: survives a crash of the machine.
    Synced,
}

/// What the broker answers a producer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's time under LogAppendTime, -1 under CreateTime (as in ProduceResponse).
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

/// Whole batches, as stored, for a fetch: the fragments concatenated are the record bytes.
#[derive(Debug, Clone, Default)]
pub struct ReadBatches {
    pub fragments: Vec<Bytes>,
    pub size_bytes: usize,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// The last offset of the last batch returned (`None` when empty).
    pub last_offset: Option<i64>,
    /// The fragments lend the direct-read buffers of the shard that read them (a read from the
    /// segment files): they may leave that shard only once copied, by
    /// [`ReadBatches::unbind_from_shard`].
    pub shard_bound: bool,
}

impl ReadBatches {
    /// Copies fragments that lend a shard's read buffers into one buffer of their own, so that
    /// the batches may go to another shard (a fetch answered over the mesh); nothing to do for
    /// other reads.
    pub fn unbind_from_shard(&mut self) {
        if self.shard_bound {
            self.fragments = vec![Bytes::from(self.to_vec())];
            self.shard_bound = false;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }

    /// The last offset of the last batch returned.
    pub fn last_offset(&self) -> Option<i64> {
        self.last_offset
    }

    /// The bytes in one buffer (tests and tools; the broker writes the fragments as they are).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_bytes);
        for fragment in &self.fragments {
            out.extend_from_slice(fragment);
        }
        out
    }

    /// The batches, parsed again (tests and tools).
    pub fn batches(&self) -> Result<Vec<RecordBatch>, RecordError> {
        split_batches(Bytes::from(self.to_vec())).collect()
    }
}

/// I/O counters of one partition log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogIoStats {
    /// Direct-I/O writes to segment files.
    pub writes: u64,
    /// fdatasync calls on segment files (one group commit may sync more than one file).
    pub syncs: u64,
    /// Bytes of segment files recovery checked batch by batch when the log was opened.
    pub recovery_scanned_bytes: u64,
}

/// A ListOffsets-by-timestamp answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp_ms: i64,
    pub offset: i64,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub deleted_segments: usize,
    pub log_start_offset: i64,
}

pub struct PartitionLog {
    topic: String,
    partition: i32,
    dir: PathBuf,
    config: RefCell<LogConfig>,
    clock: Rc<dyn Clock>,
    state: RefCell<LogState>,
    /// One writer of the partition's files at a time: writes, syncs, rolls, truncation,
    /// deletion; served in arrival order.
    io_lock: FifoLock,
    flusher_wake: Rc<Notify>,
    /// Idempotent producers' recent sequence ranges (rebuilt by the recovery scan on open).
    producers: RefCell<ProducerStates>,
    /// Fetches long-polling for this partition to grow.
    append_waiters: WakeAll,
    /// The high watermark as last written to its checkpoint.
    checkpointed_high_watermark: Cell<Option<i64>>,
    /// The `epochs_version` of the state last written to the leader epoch checkpoint.
    checkpointed_epochs_version: Cell<u64>,
    io_stats: Cell<LogIoStats>,
    /// The shard's read-ahead for fetches served from the segment files.
    read_ahead: Rc<ReadAhead>,
}

impl PartitionLog {
    /// Opens (or creates) the log of `topic`-`partition` under `log_dir`, recovering it: the
    /// active segment is scanned and a torn or corrupt tail truncated; missing or inconsistent
    /// indexes of sealed segments are rebuilt.
    pub async fn open(
        log_dir: &LogDir,
        topic: &str,
        partition: i32,
        config: LogConfig,
        clock: Rc<dyn Clock>,
    ) -> Result<Rc<Self>, LogError> {
        let dir = log_dir.partition_path(topic, partition);
        let recovered = recovery::recover(&dir, &config).await?;
        let mut segments = recovered.segments;
        let log_start_offset = match segments.values().next() {
            Some(first) => recovered
                .log_start_checkpoint
                .unwrap_or(0)
                .max(first.base_offset),
            None => recovered.log_start_checkpoint.unwrap_or(0),
        };
        if segments.is_empty() {
            segments.insert(log_start_offset, Segment::new(&dir, log_start_offset));
        }
        let log_end_offset = segments
            .values()
            .next_back()
            .map_or(log_start_offset, |s| s.next_offset);
        // A checkpoint beyond the data (a damaged file: Kafka's plain-text format has no
        // checksum) would leave the log start past its end; the data wins.
        let log_start_offset = if log_start_offset > log_end_offset {
            tracing::warn!(
                topic,
                partition,
                checkpoint = log_start_offset,
                log_end_offset,
                "ignoring a log-start-offset checkpoint beyond the log end"
            );
            segments.values().next().map_or(0, |s| s.base_offset)
        } else {
            log_start_offset
        };
        // The checkpointed high watermark, never past the data. A log without a checkpoint was
        // written by Weir before replication, by one broker: everything in it counts.
        let high_watermark = recovered
            .high_watermark_checkpoint
            .map_or(log_end_offset, |hw| {
                hw.clamp(log_start_offset, log_end_offset)
            });
        // The epochs as recovered, cut to the data (a crash may have come between a cut of the
        // log and the checkpoint's) and to the log start, as Kafka's log loading does.
        let mut epochs = recovered.leader_epochs;
        let cut_end = epochs.truncate_from_end(log_end_offset);
        let cut_start = epochs.truncate_from_start(log_start_offset);
        let epochs_version = u64::from(cut_end || cut_start);
        let now_ms = clock.now_ms();
        let state = LogState {
            segments,
            log_start_offset,
            log_end_offset,
            written_offset: log_end_offset,
            durable_offset: log_end_offset,
            high_watermark,
            role: ReplicaRole::default(),
            last_sync_ms: now_ms,
            leader_epoch: 0,
            epochs,
            epochs_version,
            tail: TailCache::default(),
            closed: false,
            long_polls_ended: false,
            cleaner_checkpoint: recovered.cleaner_checkpoint,
        };
        let log = Rc::new(Self {
            topic: topic.to_string(),
            partition,
            dir,
            config: RefCell::new(config),
            clock,
            state: RefCell::new(state),
            io_lock: FifoLock::default(),
            flusher_wake: Rc::new(Notify::default()),
            producers: RefCell::new(recovered.producers),
            append_waiters: WakeAll::default(),
            checkpointed_high_watermark: Cell::new(recovered.high_watermark_checkpoint),
            checkpointed_epochs_version: Cell::new(0),
            io_stats: Cell::new(LogIoStats {
                recovery_scanned_bytes: recovered.scanned_bytes,
                ..LogIoStats::default()
            }),
            read_ahead: log_dir.read_ahead(),
        });
        if recovered.high_watermark_checkpoint.is_none() {
            // From now on the checkpoint exists, so a missing one always means an old log.
            log.checkpoint_high_watermark().await?;
        }
        glommio::spawn_local(run_flusher(Rc::downgrade(&log), log.flusher_wake.clone())).detach();
        tracing::info!(
            topic,
            partition,
            log_start_offset,
            log_end_offset,
            recovery_scanned_bytes = recovered.scanned_bytes,
            "partition log opened"
        );
        Ok(log)
    }

    /// After a truncation: the producer state of what is left (see `recovery::truncate_active`).
    pub(crate) fn replace_producer_states(&self, producers: ProducerStates) {
        *self.producers.borrow_mut() = producers;
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_start_offset(&self) -> i64 {
        self.state.borrow().log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.state.borrow().log_end_offset
    }

    /// Offsets below this have reached the segment files.
    pub fn written_offset(&self) -> i64 {
        self.state.borrow().written_offset
    }

    /// Offsets below this are on stable storage.
    pub fn durable_offset(&self) -> i64 {
        self.state.borrow().durable_offset
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.state.borrow().segments.keys().copied().collect()
    }

    pub fn io_stats(&self) -> LogIoStats {
        self.io_stats.get()
    }

    fn count_io(&self, writes: u64, syncs: u64) {
        let mut stats = self.io_stats.get();
        stats.writes += writes;
        stats.syncs += syncs;
        self.io_stats.set(stats);
    }

    /// The partition's leader epoch from the metadata: a leader stamps it on the batches it
    /// appends, and requests naming another epoch are refused (`leader_epochs`).
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.state.borrow_mut().leader_epoch = epoch;
    }

    pub fn config(&self) -> LogConfig {
        self.config.borrow().clone()
    }

    /// Applies new topic configs to the live log (Kafka applies them without a restart).
    pub fn set_config(&self, config: LogConfig) {
        *self.config.borrow_mut() = config;
        self.flusher_wake.notify();
    }

    fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    /// Writes and syncs everything, then stops the log: later calls answer `Closed`.
    pub async fn close(&self) -> Result<(), LogError> {
        {
            let _io = self.lock_io().await;
            self.write_pending().await?;
            self.sync().await?;
            self.trim_active().await?;
            self.checkpoint_high_watermark().await?;
            self.checkpoint_leader_epochs().await?;
            self.write_clean_close().await?;
            self.state.borrow_mut().closed = true;
        }
        self.flusher_wake.notify();
        self.append_waiters.wake_all();
        Ok(())
    }

    /// Leaves the clean-shutdown marker (see `clean_close`), so the next open need not scan
    /// the active segment. Only for an active segment with a file: without one, the last
    /// file on disk is a sealed segment, which recovery checks on its own. Caller holds the
    /// I/O lock, after the last sync.
    async fn write_clean_close(&self) -> Result<(), LogError> {
        let (marker, txn_index) = {
            let mut state = self.state.borrow_mut();
            let active = state.active();
            if active.file.is_none() {
                return Ok(());
            }
            let producers = self.producers.borrow().snapshot_before(active.next_offset);
            let txn_index = (active.txn_index_path.clone(), active.aborted.clone());
            (
                super::clean_close::CleanClose::of_active(active, producers),
                txn_index,
            )
        };
        let path = self.dir.join(super::clean_close::CLEAN_SHUTDOWN_FILE);
        // The active segment's transaction index goes first: the marker vouches for it too.
        blocking(move || {
            write_txn_index(&txn_index.0, &txn_index.1)?;
            write_file_atomically(&path, &marker.encode())
        })
        .await
    }

    /// The aborted transactions a read_committed fetch of `from..to` must return: every
    /// `.txnindex` entry overlapping that range, from the segment holding `from` on (an entry
    /// of an earlier segment has its marker, so its last offset, before `from`). Entries are
    /// few (one per aborted transaction), so all later segments are looked at.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let state = self.state.borrow();
        let floor = state
            .segments
            .range(..=from)
            .next_back()
            .map_or(i64::MIN, |(base, _)| *base);
        // Every later segment too: a transaction with records in the range may have been
        // aborted much later.
        state
            .segments
            .range(floor..)
            .flat_map(|(_, seg)| super::transactions::aborted_overlapping(&seg.aborted, from, to))
            .collect()
    }

    /// Kafka's last stable offset: read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        self.producers
            .borrow()
            .last_stable_offset(self.high_watermark())
    }

    pub(crate) fn set_cleaner_checkpoint(&self, offset: i64) {
        let mut state = self.state.borrow_mut();
        state.cleaner_checkpoint = state.cleaner_checkpoint.max(offset);
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn index_interval_bytes(&self) -> u64 {
        self.config.borrow().index_interval_bytes
    }
}

impl Drop for PartitionLog {
    fn drop(&mut self) {
        // Let the flusher see that the log is gone and end.
        self.flusher_wake.notify();
    }
}
