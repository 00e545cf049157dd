//! The partition log's state (segments, offsets, the tail cache) and the pure steps on it:
//! offset checks, rolling, planning the writer's next I/O step, cached reads. No I/O here.

use super::*;

pub(crate) struct LogState {
    pub segments: BTreeMap<i64, Segment>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// Offsets below are in the segment files.
    pub written_offset: i64,
    /// Offsets below are covered by fdatasync.
    pub durable_offset: i64,
    /// Offsets below are on every in-sync replica (`replica`).
    pub high_watermark: i64,
    /// Leader or follower (`replica`).
    pub role: replica::ReplicaRole,
    pub last_sync_ms: i64,
    /// The partition's leader epoch as the metadata says: a leader stamps it on its batches.
    pub leader_epoch: i32,
    /// Where each leader epoch begins in this log (`leader_epochs`).
    pub epochs: LeaderEpochCache,
    /// Counts changes of `epochs`, so the writer knows when its checkpoint is stale.
    pub epochs_version: u64,
    pub tail: TailCache,
    pub closed: bool,
    /// Set at shutdown: long polls on this log return at once (see `end_long_polls`).
    pub long_polls_ended: bool,
    /// Offsets below have been through the log cleaner (see `cleaner`).
    pub cleaner_checkpoint: i64,
}

/// One I/O step of the writer, planned under a short borrow of the state and run without it.
pub(super) enum WriteStep {
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
        txn_index: (PathBuf, Vec<AbortedTxn>),
        /// The producers' snapshot where the next segment begins, taken at the roll.
        producers: Option<Vec<u8>>,
    },
}

impl LogState {
    pub(super) fn active(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a partition log always has an active segment")
    }

    pub(super) fn check_offset(&self, offset: i64) -> Result<(), LogError> {
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
    /// `segment.ms`, or when a relative offset would not fit the 32-bit index. Returns whether
    /// it rolled.
    pub(super) fn maybe_roll(
        &mut self,
        dir: &Path,
        batch_bytes: u64,
        last_offset_delta: i32,
        now_ms: i64,
        config: &LogConfig,
    ) -> bool {
        let next_offset = self.log_end_offset;
        let active = self.active();
        if active.size_bytes == 0 {
            return false;
        }
        let full = active.size_bytes + batch_bytes > config.segment_bytes;
        let old = active
            .first_append_ms
            .is_some_and(|t| now_ms - t >= config.segment_ms);
        let relative_overflow =
            next_offset + i64::from(last_offset_delta) - active.base_offset > i64::from(i32::MAX);
        let roll = full || old || relative_overflow;
        if roll {
            active.state = SegmentState::Sealing;
            self.segments
                .insert(next_offset, Segment::new(dir, next_offset));
        }
        roll
    }

    /// Appends a client's batch at the log end: offsets from here, this leader's epoch, and
    /// the broker's time under LogAppendTime.
    pub(super) fn append_batch(
        &mut self,
        dir: &Path,
        batch: RecordBatch,
        now_ms: i64,
        config: &LogConfig,
        producers: &mut ProducerStates,
    ) -> (i64, i64) {
        let base_offset = self.log_end_offset;
        let log_append_time =
            (config.message_timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let header = patch_header(&batch, base_offset, self.leader_epoch, log_append_time);
        let max_ts = log_append_time.unwrap_or_else(|| batch.max_timestamp());
        self.place_batch(dir, batch, &header, max_ts, now_ms, config, producers)
    }

    /// Appends a leader's batch unchanged (a follower's append; the caller checked that it
    /// starts at the log end).
    pub(super) fn append_replica_batch(
        &mut self,
        dir: &Path,
        batch: RecordBatch,
        now_ms: i64,
        config: &LogConfig,
        producers: &mut ProducerStates,
    ) -> (i64, i64) {
        let header = patch_header(
            &batch,
            batch.base_offset(),
            batch.partition_leader_epoch(),
            None,
        );
        let max_ts = batch.max_timestamp();
        self.place_batch(dir, batch, &header, max_ts, now_ms, config, producers)
    }

    /// Queues `batch` with `header` at the log end, rolling first when the segment is due, and
    /// records it in the producers' state. A roll snapshots that state as it is where the new
    /// segment begins (written when the old one is sealed): taken later, a marker appended
    /// meanwhile would already have closed a transaction that is open at that offset.
    #[allow(clippy::too_many_arguments)]
    fn place_batch(
        &mut self,
        dir: &Path,
        batch: RecordBatch,
        header: &PatchedHeader,
        max_ts: i64,
        now_ms: i64,
        config: &LogConfig,
        producers: &mut ProducerStates,
    ) -> (i64, i64) {
        let size = batch.size_bytes() as u64;
        let base_offset = self.log_end_offset;
        if self.maybe_roll(dir, size, batch.last_offset_delta(), now_ms, config) {
            let snapshot = producers.snapshot_before(base_offset);
            if let Some(sealing) = self.segments.range_mut(..base_offset).next_back() {
                sealing.1.producers_at_end = Some(snapshot);
            }
        }
        if let Some(aborted) = producers.record_at(&batch, base_offset) {
            self.active().aborted.push(aborted);
        }
        // Kafka's append: a batch of a newer epoch than the cache's latest starts that epoch.
        let epoch = header.partition_leader_epoch();
        if self.epochs.latest().is_none_or(|l| epoch > l.epoch) {
            self.change_epochs(|e| e.assign(epoch, base_offset));
        }
        let last_offset = base_offset + i64::from(batch.last_offset_delta());
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
            header,
        );
        self.log_end_offset = last_offset + 1;
        (base_offset, last_offset)
    }

    /// Applies `change` to the epoch cache, counting it when it changed something.
    pub(super) fn change_epochs(&mut self, change: impl FnOnce(&mut LeaderEpochCache) -> bool) {
        if change(&mut self.epochs) {
            self.epochs_version += 1;
        }
    }

    /// Whether the next write step seals a rolled segment whose bytes are all in its file.
    pub(super) fn seal_is_next(&self) -> bool {
        self.segments
            .values()
            .find(|s| s.needs_write_step())
            .is_some_and(|s| s.file.is_some() && s.written_bytes >= s.size_bytes)
    }

    pub(super) fn next_write_step(&mut self, config: &LogConfig) -> Option<WriteStep> {
        let LogState { segments, tail, .. } = self;
        let seg = segments.values_mut().find(|s| s.needs_write_step())?;
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
            txn_index: (seg.txn_index_path.clone(), seg.aborted.clone()),
            producers: seg.producers_at_end.take(),
        })
    }

    pub(super) fn segment_mut(&mut self, base: i64) -> Option<&mut Segment> {
        self.segments.get_mut(&base)
    }

    pub(super) fn complete_write(
        &mut self,
        base: i64,
        end: u64,
        tail_page: Vec<u8>,
        config: &LogConfig,
    ) {
        if let Some(seg) = self.segment_mut(base) {
            seg.written_bytes = end;
            seg.tail_page = tail_page;
        }
        let written_before = self.tail.find_position(base, end);
        if let Some(last) = written_before.checked_sub(1).and_then(|i| self.tail.get(i)) {
            self.written_offset = self.written_offset.max(last.last_offset + 1);
        }
        self.advance_high_watermark();
        self.tail
            .evict(config.tail_cache_bytes, self.written_offset);
    }

    pub(super) fn read_cached(&self, from: i64, max_bytes: usize, end_offset: i64) -> ReadBatches {
        let mut read = self.empty_read();
        for batch in self.tail.iter_from(self.tail.find_offset(from)) {
            if batch.last_offset >= end_offset {
                break;
            }
            let size = batch.size_bytes() as usize;
            if read.size_bytes > 0 && read.size_bytes + size > max_bytes {
                break;
            }
            read.fragments.push(batch.header.clone());
            read.fragments.push(batch.body.clone());
            read.size_bytes += size;
            read.last_offset = Some(batch.last_offset);
        }
        read
    }

    pub(super) fn empty_read(&self) -> ReadBatches {
        ReadBatches {
            fragments: Vec::new(),
            size_bytes: 0,
            high_watermark: self.log_end_offset,
            log_start_offset: self.log_start_offset,
            last_offset: None,
            shard_bound: false,
        }
    }
}
