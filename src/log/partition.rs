//! The partition log: offsets, appends, reads, durability, truncation and retention of one
//! Kafka partition, owned by one shard.
//!
//! Appends are synchronous and in memory: they validate the batch, assign offsets and queue it in
//! the tail cache. Writes to the segment files happen in the background (the flusher task) or on
//! demand (a producer waiting for `acks`), one writer at a time, each write covering everything
//! queued so far; so does each `fdatasync` (group commit). No `RefCell` borrow is held across an
//! `.await`: state changes happen between I/O steps, which are planned from a snapshot.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::Bytes;
use glommio::io::{DmaBuffer, DmaFile};
use glommio::sync::Semaphore;

use super::config::LogConfig;
use super::dir::{
    blocking, remove_files, sync_dir, write_checkpoint, write_file_atomically, LogDir,
};
use super::error::LogError;
use super::notify::{Notify, WakeAll};
use super::producers::{last_sequence, ProducerStates, SequenceCheck, SequencedBatch};
use super::recovery;
use super::retention::{segments_to_delete, RetentionLimits, SegmentSummary};
use super::segment::{
    create_segment_file, truncate_and_sync, Segment, SegmentScanner, SegmentState,
};
use super::tail::{CachedBatch, TailCache};
use crate::clock::Clock;
use crate::record::{
    codec, filter, patch_header, split_batches, RecordBatch, RecordError, TimestampType,
};

/// Direct I/O writes whole pages; 4 KiB covers the logical block size of every device we run on.
const PAGE_BYTES: u64 = 4096;
/// Kafka's checkpoint of the log start offset, per partition here.
pub(crate) const LOG_START_CHECKPOINT: &str = "log-start-offset";

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
}

impl ReadBatches {
    pub fn is_empty(&self) -> bool {
        self.size_bytes == 0
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
    /// One writer of the partition's files at a time: writes, syncs, rolls, truncation, deletion.
    io_lock: Semaphore,
    flusher_wake: Rc<Notify>,
    /// Idempotent producers' recent sequence ranges (rebuilt by the recovery scan on open).
    producers: RefCell<ProducerStates>,
    /// Fetches long-polling for this partition to grow.
    append_waiters: WakeAll,
    io_stats: Cell<LogIoStats>,
}

pub(crate) struct LogState {
    pub segments: BTreeMap<i64, Segment>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// Offsets below are in the segment files.
    pub written_offset: i64,
    /// Offsets below are covered by fdatasync.
    pub durable_offset: i64,
    pub last_sync_ms: i64,
    pub leader_epoch: i32,
    pub tail: TailCache,
    pub closed: bool,
    /// Set at shutdown: long polls on this log return at once (see `end_long_polls`).
    pub long_polls_ended: bool,
    /// Offsets below have been through the log cleaner (see `cleaner`).
    pub cleaner_checkpoint: i64,
}

/// One I/O step of the writer, planned under a short borrow of the state and run without it.
enum WriteStep {
    Create {
        base: i64,
        path: PathBuf,
    },
    Preallocate {
        base: i64,
        file: Rc<DmaFile>,
        path: PathBuf,
        size: u64,
    },
    Write {
        base: i64,
        file: Rc<DmaFile>,
        path: PathBuf,
        position: u64,
        buffer: DmaBuffer,
        end: u64,
        tail_page: Vec<u8>,
    },
    Seal {
        base: i64,
        file: Rc<DmaFile>,
        path: PathBuf,
        size: u64,
        next_offset: i64,
        index: (PathBuf, Vec<u8>),
        time_index: (PathBuf, Vec<u8>),
    },
}

impl LogState {
    fn active(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a partition log always has an active segment")
    }

    fn check_offset(&self, offset: i64) -> Result<(), LogError> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        Ok(())
    }

    /// Kafka rolls when the batch would not fit (`segment.bytes`), when the segment is older than
    /// `segment.ms`, or when a relative offset would not fit the 32-bit index.
    fn maybe_roll(
        &mut self,
        dir: &Path,
        batch_bytes: u64,
        last_offset_delta: i32,
        now_ms: i64,
        config: &LogConfig,
    ) {
        let next_offset = self.log_end_offset;
        let active = self.active();
        if active.size_bytes == 0 {
            return;
        }
        let full = active.size_bytes + batch_bytes > config.segment_bytes;
        let old = active
            .first_append_ms
            .is_some_and(|t| now_ms - t >= config.segment_ms);
        let relative_overflow =
            next_offset + i64::from(last_offset_delta) - active.base_offset > i64::from(i32::MAX);
        if full || old || relative_overflow {
            active.state = SegmentState::Sealing;
            self.segments
                .insert(next_offset, Segment::new(dir, next_offset));
        }
    }

    fn append_batch(
        &mut self,
        dir: &Path,
        batch: RecordBatch,
        now_ms: i64,
        config: &LogConfig,
    ) -> (i64, i64) {
        let size = batch.size_bytes() as u64;
        self.maybe_roll(dir, size, batch.last_offset_delta(), now_ms, config);
        let base_offset = self.log_end_offset;
        let last_offset = base_offset + i64::from(batch.last_offset_delta());
        let log_append_time =
            (config.message_timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let header = patch_header(&batch, base_offset, self.leader_epoch, log_append_time);
        let max_ts = log_append_time.unwrap_or_else(|| batch.max_timestamp());
        let active = self.active();
        let position = active.size_bytes;
        active.first_append_ms.get_or_insert(now_ms);
        active.account_batch(
            position,
            size,
            last_offset,
            max_ts,
            config.index_interval_bytes,
        );
        let segment_base = active.base_offset;
        let body = batch
            .into_bytes()
            .split_off(crate::record::BATCH_HEADER_LEN);
        self.tail.push(
            CachedBatch {
                segment_base,
                position,
                base_offset,
                last_offset,
                header: Bytes::new(),
                body,
            },
            &header,
        );
        self.log_end_offset = last_offset + 1;
        (base_offset, last_offset)
    }

    fn next_write_step(&mut self, config: &LogConfig) -> Option<WriteStep> {
        let LogState { segments, tail, .. } = self;
        let seg = segments.values_mut().find(|s| {
            s.state != SegmentState::Sealed
                && (s.written_bytes < s.size_bytes || s.state == SegmentState::Sealing)
        })?;
        let base = seg.base_offset;
        let path = seg.log_path.clone();
        let Some(file) = seg.file.clone() else {
            return Some(WriteStep::Create { base, path });
        };
        if seg.written_bytes < seg.size_bytes {
            let start = align_down(seg.written_bytes);
            let end = seg.size_bytes.min(start + config.write_chunk_bytes as u64);
            let buffer_len = align_up(end - start);
            if start + buffer_len > seg.allocated_bytes {
                let wanted =
                    (start + buffer_len).max(seg.allocated_bytes + config.preallocate_bytes);
                let size = align_up(wanted.min(config.segment_bytes.max(start + buffer_len)));
                return Some(WriteStep::Preallocate {
                    base,
                    file,
                    path,
                    size,
                });
            }
            let mut buffer = file.alloc_dma_buffer(buffer_len as usize);
            let out = buffer.as_bytes_mut();
            let head = (seg.written_bytes - start) as usize;
            let data_end = (end - start) as usize;
            assert_eq!(
                seg.tail_page.len(),
                head,
                "tail page mirrors the partial page"
            );
            out[..head].copy_from_slice(&seg.tail_page);
            tail.copy_range(base, seg.written_bytes, end, &mut out[head..data_end]);
            out[data_end..].fill(0);
            let tail_page = out[(align_down(end) - start) as usize..data_end].to_vec();
            return Some(WriteStep::Write {
                base,
                file,
                path,
                position: start,
                buffer,
                end,
                tail_page,
            });
        }
        // Rolled and fully written: Kafka adds a final time index entry when a segment becomes
        // inactive, so the largest timestamp is known from the index on the next start.
        seg.time_index
            .maybe_append(seg.max_timestamp_ms, seg.offset_of_max_timestamp);
        Some(WriteStep::Seal {
            base,
            file,
            path,
            size: seg.size_bytes,
            next_offset: seg.next_offset,
            index: (seg.index_path.clone(), seg.index.encode()),
            time_index: (seg.time_index_path.clone(), seg.time_index.encode()),
        })
    }

    fn segment_mut(&mut self, base: i64) -> Option<&mut Segment> {
        self.segments.get_mut(&base)
    }

    fn complete_write(&mut self, base: i64, end: u64, tail_page: Vec<u8>, config: &LogConfig) {
        if let Some(seg) = self.segment_mut(base) {
            seg.written_bytes = end;
            seg.tail_page = tail_page;
        }
        let written_before = self.tail.find_position(base, end);
        if let Some(last) = written_before.checked_sub(1).and_then(|i| self.tail.get(i)) {
            self.written_offset = self.written_offset.max(last.last_offset + 1);
        }
        self.tail
            .evict(config.tail_cache_bytes, self.written_offset);
    }

    fn read_cached(&self, from: i64, max_bytes: usize) -> ReadBatches {
        let mut read = self.empty_read();
        for batch in self.tail.iter_from(self.tail.find_offset(from)) {
            let size = batch.size_bytes() as usize;
            if read.size_bytes > 0 && read.size_bytes + size > max_bytes {
                break;
            }
            read.fragments.push(batch.header.clone());
            read.fragments.push(batch.body.clone());
            read.size_bytes += size;
        }
        read
    }

    fn empty_read(&self) -> ReadBatches {
        ReadBatches {
            fragments: Vec::new(),
            size_bytes: 0,
            high_watermark: self.log_end_offset,
            log_start_offset: self.log_start_offset,
        }
    }
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
        let now_ms = clock.now_ms();
        let state = LogState {
            segments,
            log_start_offset,
            log_end_offset,
            written_offset: log_end_offset,
            durable_offset: log_end_offset,
            last_sync_ms: now_ms,
            leader_epoch: 0,
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
            io_lock: Semaphore::new(1),
            flusher_wake: Rc::new(Notify::default()),
            producers: RefCell::new(recovered.producers),
            append_waiters: WakeAll::default(),
            io_stats: Cell::new(LogIoStats {
                recovery_scanned_bytes: recovered.scanned_bytes,
                ..LogIoStats::default()
            }),
        });
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

    /// On a single node every appended offset is committed: the high watermark is the log end
    /// offset, as in Kafka with one in-sync replica.
    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset()
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

    /// What `acks=all` waits for under the configured flush policy.
    pub fn ack_durability(&self) -> Durability {
        if self.config.borrow().flush.sync_before_ack() {
            Durability::Synced
        } else {
            Durability::Written
        }
    }

    /// Appends a produce request's records for this partition (one or more batches from a
    /// client): all are validated first and either all or none are appended. Does no I/O; await
    /// [`PartitionLog::wait_for`] for durability.
    pub fn append(&self, records: Bytes) -> Result<AppendInfo, LogError> {
        let config = self.config.borrow();
        let mut batches = Vec::new();
        for batch in split_batches(records) {
            let batch = batch?;
            if batch.size_bytes() > config.max_message_bytes {
                return Err(RecordError::TooLarge {
                    size: batch.size_bytes(),
                    max: config.max_message_bytes,
                }
                .into());
            }
            batch.validate_from_client()?;
            if config.cleanup.compact {
                let batch_indexes = filter::keyless_records(&batch, config.max_message_bytes)?;
                if !batch_indexes.is_empty() {
                    return Err(RecordError::KeylessRecordOnCompactedTopic { batch_indexes }.into());
                }
            }
            batches.push(match config.compression {
                // compression.type differs from the producer's codec: recompress (bounded by
                // max.message.bytes, so a "zip bomb" is refused, not inflated).
                Some(target) if batch.attributes().compression()? != target => {
                    codec::recompress(&batch, target, config.max_message_bytes)?
                }
                _ => batch,
            });
        }
        if batches.is_empty() {
            return Err(RecordError::Empty.into());
        }
        // Idempotent producers: a retried batch already in the log gets its original offsets.
        let mut duplicates = Vec::new();
        {
            let producers = self.producers.borrow();
            for batch in batches.iter().filter(|b| b.producer_id() >= 0) {
                if let SequenceCheck::Duplicate(original) = producers.check(
                    batch.producer_id(),
                    batch.producer_epoch(),
                    batch.base_sequence(),
                    last_sequence(batch),
                )? {
                    duplicates.push((batch.producer_id(), original));
                }
            }
        }
        if !duplicates.is_empty() {
            if duplicates.len() != batches.len() {
                return Err(LogError::MixedDuplicate {
                    producer_id: duplicates[0].0,
                });
            }
            let state = self.state.borrow();
            tracing::debug!(
                partition = self.partition,
                "duplicate batch from an idempotent producer"
            );
            return Ok(AppendInfo {
                base_offset: duplicates[0].1.base_offset,
                last_offset: duplicates[duplicates.len() - 1].1.last_offset,
                log_append_time_ms: -1,
                log_start_offset: state.log_start_offset,
            });
        }
        let now_ms = self.clock.now_ms();
        let mut state = self.state.borrow_mut();
        if state.closed {
            return Err(LogError::Closed {
                path: self.dir.clone(),
            });
        }
        let mut first_offset = None;
        let mut last_offset = 0;
        let mut producers = self.producers.borrow_mut();
        for batch in batches {
            let producer = (batch.producer_id() >= 0).then(|| {
                (
                    batch.producer_id(),
                    batch.producer_epoch(),
                    batch.base_sequence(),
                    last_sequence(&batch),
                )
            });
            let (base, last) = state.append_batch(&self.dir, batch, now_ms, &config);
            if let Some((id, epoch, first_seq, last_seq)) = producer {
                producers.record(
                    id,
                    epoch,
                    SequencedBatch {
                        first_seq,
                        last_seq,
                        base_offset: base,
                        last_offset: last,
                    },
                );
            }
            first_offset.get_or_insert(base);
            last_offset = last;
        }
        drop(producers);
        let log_append_time_ms = match config.message_timestamp_type {
            TimestampType::LogAppendTime => now_ms,
            TimestampType::CreateTime => -1,
        };
        let info = AppendInfo {
            base_offset: first_offset.expect("at least one batch"),
            last_offset,
            log_append_time_ms,
            log_start_offset: state.log_start_offset,
        };
        drop(state);
        self.flusher_wake.notify();
        self.append_waiters.wake_all();
        Ok(info)
    }

    fn reached(&self, next_offset: i64, level: Durability) -> Result<bool, LogError> {
        let state = self.state.borrow();
        if state.closed {
            return Err(LogError::Closed {
                path: self.dir.clone(),
            });
        }
        if next_offset > state.log_end_offset {
            // Truncated away (or never appended): waiting would never end.
            return Err(LogError::OffsetOutOfRange {
                offset: next_offset,
                log_start_offset: state.log_start_offset,
                log_end_offset: state.log_end_offset,
            });
        }
        Ok(match level {
            Durability::Written => state.written_offset >= next_offset,
            Durability::Synced => state.durable_offset >= next_offset,
        })
    }

    /// Waits until every offset below `next_offset` is `level`-durable. Concurrent waiters share
    /// writes and fdatasyncs: whoever holds the I/O lock writes everything appended so far.
    pub async fn wait_for(&self, next_offset: i64, level: Durability) -> Result<(), LogError> {
        loop {
            if self.reached(next_offset, level)? {
                return Ok(());
            }
            let _io = self.lock_io().await?;
            if self.reached(next_offset, level)? {
                return Ok(());
            }
            self.write_pending().await?;
            if level == Durability::Synced {
                self.sync().await?;
            }
        }
    }

    /// Resolves once the log holds an offset at or beyond `offset` (a fetch at the log end
    /// long-polling for data), or the log is closed or shutting down. Callers bound the wait
    /// with a timeout.
    pub async fn wait_for_append(&self, offset: i64) {
        self.append_waiters
            .until(|| {
                let state = self.state.borrow();
                state.closed || state.long_polls_ended || state.log_end_offset > offset
            })
            .await
    }

    /// A graceful shutdown answers fetches waiting for data now, with what there is, instead
    /// of holding the shutdown for their `max_wait_ms`.
    pub fn end_long_polls(&self) {
        self.state.borrow_mut().long_polls_ended = true;
        self.append_waiters.wake_all();
    }

    /// The record with the largest timestamp (ListOffsets MAX_TIMESTAMP, KIP-734): its timestamp
    /// and the last offset of the batch that carries it, or `None` for an empty log.
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
        let state = self.state.borrow();
        state
            .segments
            .values()
            .filter(|s| s.next_offset > state.log_start_offset && s.max_timestamp_ms >= 0)
            .max_by_key(|s| s.max_timestamp_ms)
            .map(|s| TimestampOffset {
                timestamp_ms: s.max_timestamp_ms,
                offset: s.offset_of_max_timestamp.max(state.log_start_offset),
            })
    }

    /// Writes and syncs everything appended so far.
    pub async fn flush(&self) -> Result<(), LogError> {
        let end = self.log_end_offset();
        self.wait_for(end, Durability::Synced).await
    }

    pub(crate) async fn lock_io(&self) -> Result<glommio::sync::Permit<'_>, LogError> {
        self.io_lock
            .acquire_permit(1)
            .await
            .map_err(|_| LogError::Closed {
                path: self.dir.clone(),
            })
    }

    /// Runs write steps until everything appended is in the files. Caller holds the I/O lock.
    async fn write_pending(&self) -> Result<(), LogError> {
        loop {
            let step = {
                let config = self.config.borrow();
                self.state.borrow_mut().next_write_step(&config)
            };
            match step {
                None => return Ok(()),
                Some(step) => self.run_write_step(step).await?,
            }
        }
    }

    async fn run_write_step(&self, step: WriteStep) -> Result<(), LogError> {
        match step {
            WriteStep::Create { base, path } => {
                let file = create_segment_file(&path).await?;
                // The new file's directory entry must be durable before data in it is acked.
                let dir = self.dir.clone();
                blocking(move || sync_dir(&dir)).await?;
                if let Some(seg) = self.state.borrow_mut().segment_mut(base) {
                    seg.file = Some(Rc::new(file));
                    seg.allocated_bytes = 0;
                }
            }
            WriteStep::Preallocate {
                base,
                file,
                path,
                size,
            } => {
                file.pre_allocate(size, false)
                    .await
                    .map_err(|e| LogError::io("preallocate segment", &path, e))?;
                if let Some(seg) = self.state.borrow_mut().segment_mut(base) {
                    seg.allocated_bytes = size;
                }
            }
            WriteStep::Write {
                base,
                file,
                path,
                position,
                buffer,
                end,
                tail_page,
            } => {
                let expected = buffer.len();
                let written = file
                    .write_at(buffer, position)
                    .await
                    .map_err(|e| LogError::io("write segment", &path, e))?;
                self.count_io(1, 0);
                if written != expected {
                    return Err(LogError::ShortWrite {
                        path,
                        position,
                        written,
                        expected,
                    });
                }
                let config = self.config.borrow();
                self.state
                    .borrow_mut()
                    .complete_write(base, end, tail_page, &config);
            }
            WriteStep::Seal {
                base,
                file,
                path,
                size,
                next_offset,
                index,
                time_index,
            } => {
                // Trim the preallocated space so a sealed segment is exactly its batches, as in
                // Kafka, then make it durable before its index files say it is complete.
                truncate_and_sync(&file, &path, size).await?;
                // Idempotent producers' state where the next segment starts (Kafka's
                // `<offset>.snapshot`): recovery scans only the active segment on top of it.
                let snapshot = (
                    recovery::snapshot_path(&self.dir, next_offset),
                    self.producers.borrow().snapshot_before(next_offset),
                );
                let previous_snapshot = recovery::snapshot_path(&self.dir, base);
                blocking(move || {
                    write_file_atomically(&index.0, &index.1)?;
                    write_file_atomically(&time_index.0, &time_index.1)?;
                    write_file_atomically(&snapshot.0, &snapshot.1)?;
                    remove_files(&[previous_snapshot])
                })
                .await?;
                if let Some(seg) = self.state.borrow_mut().segment_mut(base) {
                    seg.state = SegmentState::Sealed;
                    seg.synced_bytes = size;
                    seg.allocated_bytes = size;
                    seg.tail_page = Vec::new();
                }
                tracing::debug!(path = %path.display(), size, "segment sealed");
            }
        }
        Ok(())
    }

    /// fdatasync of every file with unsynced writes. Caller holds the I/O lock.
    async fn sync(&self) -> Result<(), LogError> {
        let (files, target) = {
            let state = self.state.borrow();
            let files: Vec<_> = state
                .segments
                .values()
                .filter(|s| s.synced_bytes < s.written_bytes)
                .filter_map(|s| {
                    let file = s.file.clone()?;
                    Some((s.base_offset, file, s.log_path.clone(), s.written_bytes))
                })
                .collect();
            (files, state.written_offset)
        };
        for (_, file, path, _) in &files {
            file.fdatasync()
                .await
                .map_err(|e| LogError::io("sync segment", path, e))?;
            self.count_io(0, 1);
        }
        let now_ms = self.clock.now_ms();
        let mut state = self.state.borrow_mut();
        for (base, _, _, written) in files {
            if let Some(seg) = state.segment_mut(base) {
                seg.synced_bytes = seg.synced_bytes.max(written);
            }
        }
        state.durable_offset = state.durable_offset.max(target);
        state.last_sync_ms = now_ms;
        Ok(())
    }

    /// Whether `log.flush.interval.messages` / `.ms` call for an fdatasync now.
    fn sync_due(&self) -> bool {
        let flush = self.config.borrow().flush;
        let state = self.state.borrow();
        let unsynced = state.log_end_offset - state.durable_offset;
        if unsynced <= 0 {
            return false;
        }
        let by_count = flush
            .interval_messages
            .is_some_and(|n| unsynced as u64 >= n);
        let by_time = flush
            .interval_ms
            .is_some_and(|ms| self.clock.now_ms() - state.last_sync_ms >= ms as i64);
        by_count || by_time
    }

    /// How long the flusher may sleep before `log.flush.interval.ms` is due.
    fn sync_timer(&self) -> Option<Duration> {
        let ms = self.config.borrow().flush.interval_ms?;
        let state = self.state.borrow();
        if state.log_end_offset == state.durable_offset {
            return None;
        }
        let due = state.last_sync_ms + ms as i64 - self.clock.now_ms();
        Some(Duration::from_millis(due.max(1) as u64))
    }

    async fn background_flush(&self) -> Result<(), LogError> {
        let _io = self.lock_io().await?;
        self.write_pending().await?;
        if self.sync_due() {
            self.sync().await?;
        }
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    /// Whole batches from `from_offset` on, at most `max_bytes` unless the first batch alone is
    /// larger (it is then returned whole, as Kafka does so that consumers make progress).
    /// Recent batches come from memory; older ones from the segment file.
    pub async fn read(&self, from_offset: i64, max_bytes: usize) -> Result<ReadBatches, LogError> {
        let mut segment_floor = from_offset;
        loop {
            let (file, path, start, end, empty) = {
                let state = self.state.borrow();
                state.check_offset(from_offset)?;
                if from_offset == state.log_end_offset {
                    return Ok(state.empty_read());
                }
                if state
                    .tail
                    .first_offset()
                    .is_some_and(|first| first <= from_offset)
                {
                    return Ok(state.read_cached(from_offset, max_bytes));
                }
                let Some(seg) = state
                    .segments
                    .range(..=segment_floor)
                    .next_back()
                    .map(|(_, s)| s)
                else {
                    return Ok(state.empty_read());
                };
                let Some(file) = seg.file.clone() else {
                    return Ok(state.empty_read());
                };
                let start = seg.index.lookup(from_offset);
                (
                    file,
                    seg.log_path.clone(),
                    start,
                    seg.written_bytes,
                    state.empty_read(),
                )
            };
            let mut read = empty;
            let chunk = max_bytes.clamp(64 << 10, 1 << 20);
            let mut scanner = SegmentScanner::new(file, path, start, end, chunk);
            while let Some(batch) = scanner.next_valid().await? {
                if batch.last_offset() < from_offset {
                    continue;
                }
                let size = batch.size_bytes();
                if read.size_bytes > 0 && read.size_bytes + size > max_bytes {
                    break;
                }
                read.size_bytes += size;
                read.fragments.push(batch.into_bytes());
            }
            if !read.is_empty() {
                return Ok(read);
            }
            // Nothing at or after `from_offset` in that segment: look in the next one.
            let next_base = self
                .state
                .borrow()
                .segments
                .range(segment_floor + 1..)
                .next()
                .map(|(base, _)| *base);
            match next_base {
                Some(base) if base <= from_offset => segment_floor = base,
                Some(base) => segment_floor = base.max(segment_floor + 1),
                None => return Ok(read),
            }
        }
    }

    /// ListOffsets by timestamp: the first offset whose record timestamp is at least
    /// `target_ms`, or `None` when every record is older. Record-exact for uncompressed batches;
    /// for compressed ones it answers with the batch's base offset (a consumer starting there
    /// sees at most one batch of older records).
    pub async fn offset_for_timestamp(
        &self,
        target_ms: i64,
    ) -> Result<Option<TimestampOffset>, LogError> {
        let end = self.log_end_offset();
        self.wait_for(end, Durability::Written).await?;
        let candidates: Vec<_> = {
            let state = self.state.borrow();
            state
                .segments
                .values()
                .filter(|s| {
                    s.max_timestamp_ms >= target_ms && s.next_offset > state.log_start_offset
                })
                .filter_map(|s| {
                    let file = s.file.clone()?;
                    let scan_from = s
                        .time_index
                        .lookup_before(target_ms)
                        .map_or(s.base_offset, |o| o + 1);
                    let start = s.index.lookup(scan_from);
                    Some((file, s.log_path.clone(), start, s.written_bytes))
                })
                .collect()
        };
        let log_start = self.log_start_offset();
        for (file, path, start, end) in candidates {
            let mut scanner = SegmentScanner::new(file, path, start, end, 1 << 20);
            while let Some(batch) = scanner.next_valid().await? {
                if batch.max_timestamp() < target_ms || batch.last_offset() < log_start {
                    continue;
                }
                let found = first_record_at_or_after(&batch, target_ms);
                return Ok(Some(TimestampOffset {
                    timestamp_ms: found.timestamp_ms,
                    offset: found.offset.max(log_start),
                }));
            }
        }
        Ok(None)
    }

    /// Removes every batch at or beyond `offset` (for replication: a follower truncating to its
    /// leader's log). A batch that contains `offset` goes whole, so the new log end offset may be
    /// below `offset`; it is returned.
    pub async fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        let _io = self.lock_io().await?;
        self.write_pending().await?;
        let (log_start, log_end) = {
            let state = self.state.borrow();
            (state.log_start_offset, state.log_end_offset)
        };
        if offset >= log_end {
            return Ok(log_end);
        }
        if offset <= log_start {
            self.reset_to(offset).await?;
            return Ok(offset);
        }
        let doomed: Vec<Segment> = {
            let mut state = self.state.borrow_mut();
            let keep = state.segments.split_off(&offset);
            let mut doomed: Vec<Segment> = keep.into_values().collect();
            if state.segments.is_empty() {
                // `offset` is a segment base: keep that segment, emptied below.
                let first = doomed.remove(0);
                state.segments.insert(first.base_offset, first);
            }
            doomed
        };
        self.delete_segment_files(doomed).await?;
        let new_end = recovery::truncate_active(self, offset).await?;
        let mut state = self.state.borrow_mut();
        state.tail.truncate_from(new_end);
        state.log_end_offset = new_end;
        state.written_offset = new_end;
        state.durable_offset = state.durable_offset.min(new_end);
        tracing::info!(topic = %self.topic, partition = self.partition, offset, new_end, "log truncated");
        Ok(new_end)
    }

    /// Drops all data and restarts the log empty at `offset` (Kafka's `truncateFullyAndStartAt`).
    async fn reset_to(&self, offset: i64) -> Result<(), LogError> {
        let doomed: Vec<Segment> = {
            let mut state = self.state.borrow_mut();
            let old = std::mem::take(&mut state.segments);
            state
                .segments
                .insert(offset, Segment::new(&self.dir, offset));
            state.tail.truncate_from(i64::MIN);
            state.log_start_offset = offset;
            state.log_end_offset = offset;
            state.written_offset = offset;
            state.durable_offset = offset;
            old.into_values().collect()
        };
        self.delete_segment_files(doomed).await?;
        self.write_log_start_checkpoint(offset).await
    }

    /// Kafka's DeleteRecords: raises the log start offset to `offset` (at most the high
    /// watermark) and deletes segments wholly below it. Returns the new low watermark.
    pub async fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let _io = self.lock_io().await?;
        {
            let mut state = self.state.borrow_mut();
            if offset > state.log_end_offset || offset < 0 {
                return Err(LogError::OffsetOutOfRange {
                    offset,
                    log_start_offset: state.log_start_offset,
                    log_end_offset: state.log_end_offset,
                });
            }
            if offset <= state.log_start_offset {
                return Ok(state.log_start_offset);
            }
            state.log_start_offset = offset;
            state.tail.drop_before(offset);
        }
        self.write_log_start_checkpoint(offset).await?;
        self.delete_old_segments(None).await?;
        Ok(offset)
    }

    /// Deletes whole segments past `retention.ms` / `retention.bytes` or below the log start
    /// offset; never the active segment. The log start offset moves up to the first kept segment.
    pub async fn apply_retention(&self) -> Result<RetentionOutcome, LogError> {
        let _io = self.lock_io().await?;
        let now_ms = self.clock.now_ms();
        let deleted_segments = self.delete_old_segments(Some(now_ms)).await?;
        Ok(RetentionOutcome {
            deleted_segments,
            log_start_offset: self.log_start_offset(),
        })
    }

    /// Caller holds the I/O lock. `now_ms: None` deletes only segments below the log start.
    async fn delete_old_segments(&self, now_ms: Option<i64>) -> Result<usize, LogError> {
        let doomed: Vec<Segment> = {
            let config = self.config.borrow();
            let mut state = self.state.borrow_mut();
            let summaries: Vec<_> = state
                .segments
                .values()
                .map(|s| SegmentSummary {
                    size_bytes: s.size_bytes,
                    max_timestamp_ms: s.max_timestamp_ms,
                    next_offset: s.next_offset,
                })
                .collect();
            // Time and size retention belong to `cleanup.policy=delete`; a compact-only topic
            // keeps its (compacted) history, as in Kafka.
            let by_policy = now_ms.filter(|_| config.cleanup.delete);
            let limits = RetentionLimits {
                now_ms: now_ms.unwrap_or(0),
                retention_ms: by_policy.and(config.retention_ms),
                retention_bytes: by_policy.and(config.retention_bytes),
                log_start_offset: state.log_start_offset,
            };
            let count = segments_to_delete(&summaries, limits);
            // Only sealed segments are deleted: one still being written waits for the writer.
            let bases: Vec<i64> = state
                .segments
                .values()
                .take(count)
                .take_while(|s| s.state == SegmentState::Sealed)
                .map(|s| s.base_offset)
                .collect();
            let doomed: Vec<Segment> = bases
                .iter()
                .filter_map(|b| state.segments.remove(b))
                .collect();
            if let Some(first_kept) = state.segments.keys().next().copied() {
                state.log_start_offset = state.log_start_offset.max(first_kept);
            }
            let start = state.log_start_offset;
            state.tail.drop_before(start);
            doomed
        };
        let count = doomed.len();
        if count > 0 {
            tracing::info!(
                topic = %self.topic,
                partition = self.partition,
                segments = count,
                log_start_offset = self.log_start_offset(),
                "deleted old segments"
            );
        }
        self.delete_segment_files(doomed).await?;
        Ok(count)
    }

    async fn delete_segment_files(&self, segments: Vec<Segment>) -> Result<(), LogError> {
        if segments.is_empty() {
            return Ok(());
        }
        // Readers that still hold a segment's file keep reading it: unlink does not close it.
        let paths: Vec<PathBuf> = segments.iter().flat_map(Segment::paths).collect();
        let dir = self.dir.clone();
        blocking(move || {
            remove_files(&paths)?;
            sync_dir(&dir)
        })
        .await
    }

    async fn write_log_start_checkpoint(&self, offset: i64) -> Result<(), LogError> {
        let path = self.dir.join(LOG_START_CHECKPOINT);
        blocking(move || write_checkpoint(&path, offset)).await
    }

    /// Writes and syncs everything, then stops the log: later calls answer `Closed`.
    pub async fn close(&self) -> Result<(), LogError> {
        {
            let _io = self.lock_io().await?;
            self.write_pending().await?;
            self.sync().await?;
            self.trim_active().await?;
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
        let marker = {
            let mut state = self.state.borrow_mut();
            let active = state.active();
            if active.file.is_none() {
                return Ok(());
            }
            let producers = self.producers.borrow().snapshot_before(active.next_offset);
            super::clean_close::CleanClose::of_active(active, producers)
        };
        let path = self.dir.join(super::clean_close::CLEAN_SHUTDOWN_FILE);
        blocking(move || write_file_atomically(&path, &marker.encode())).await
    }

    /// Gives back the space preallocated past the active segment's data, as Kafka trims its
    /// segments on close, so that a closed log is exactly its batches. Caller holds the I/O lock.
    async fn trim_active(&self) -> Result<(), LogError> {
        let (file, path, size) = {
            let mut state = self.state.borrow_mut();
            let active = state.active();
            let Some(file) = active.file.clone() else {
                return Ok(());
            };
            if active.allocated_bytes <= active.size_bytes {
                return Ok(());
            }
            active.allocated_bytes = active.size_bytes;
            (file, active.log_path.clone(), active.size_bytes)
        };
        truncate_and_sync(&file, &path, size).await
    }

    pub(crate) fn set_cleaner_checkpoint(&self, offset: i64) {
        let mut state = self.state.borrow_mut();
        state.cleaner_checkpoint = state.cleaner_checkpoint.max(offset);
    }

    pub(crate) fn state(&self) -> &RefCell<LogState> {
        &self.state
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

/// The record a ListOffsets-by-timestamp lands on inside a batch known to reach `target_ms`.
fn first_record_at_or_after(batch: &RecordBatch, target_ms: i64) -> TimestampOffset {
    let batch_answer = TimestampOffset {
        timestamp_ms: batch.max_timestamp(),
        offset: batch.base_offset(),
    };
    if batch.attributes().timestamp_type() == TimestampType::LogAppendTime {
        // Every record of the batch carries the append time.
        return batch_answer;
    }
    batch
        .record_timestamps()
        .and_then(|mut records| records.find(|r| r.timestamp_ms >= target_ms))
        .map_or(batch_answer, |r| TimestampOffset {
            timestamp_ms: r.timestamp_ms,
            offset: batch.base_offset() + i64::from(r.offset_delta),
        })
}

/// Writes appended data to the files soon after it arrives (write-behind), so that memory stays
/// bounded and acks=1 waiters find it done, and applies `log.flush.interval.*`.
async fn run_flusher(log: Weak<PartitionLog>, wake: Rc<Notify>) {
    loop {
        let timer = match log.upgrade() {
            Some(log) if !log.is_closed() => log.sync_timer(),
            _ => return,
        };
        match timer {
            Some(delay) => {
                futures_lite::future::or(wake.notified(), glommio::timer::sleep(delay)).await
            }
            None => wake.notified().await,
        }
        let Some(log) = log.upgrade() else { return };
        if log.is_closed() {
            return;
        }
        if let Err(err) = log.background_flush().await {
            tracing::error!(
                topic = %log.topic, partition = log.partition, error = %err,
                "background write of the partition log failed; retrying on the next append"
            );
        }
    }
}
