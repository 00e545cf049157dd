//! Everything that removes data: truncation to an offset (recovery, DeleteRecords, a follower
//! diverging from its leader later), retention by time and size, and the log start offset's
//! checkpoint.

use super::*;

impl PartitionLog {
    /// Removes every batch at or beyond `offset` (for replication: a follower truncating to its
    /// leader's log). A batch that contains `offset` goes whole, so the new log end offset may be
    /// below `offset`; it is returned.
    pub async fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        let _io = self.lock_io().await;
        self.write_pending().await?;
        let (log_start, log_end) = {
            let state = self.state.borrow();
            (state.log_start_offset, state.log_end_offset)
        };
        if offset >= log_end {
            // Nothing to cut, but an epoch may begin at the log end with no batch of it (this
            // broker led briefly and appended nothing): a leader that never had that epoch
            // says the logs diverge there, so the entry goes, as Kafka's `truncateTo` does;
            // otherwise the next fetch would name it again.
            self.state
                .borrow_mut()
                .change_epochs(|e| e.truncate_from_end(log_end));
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
        state.high_watermark = state.high_watermark.min(new_end);
        // The checkpoint follows at the next write; until then a crash leaves entries past
        // the log end, which the next open cuts as well.
        state.change_epochs(|e| e.truncate_from_end(new_end));
        drop(state);
        self.producers.borrow_mut().truncate_from(new_end);
        tracing::info!(topic = %self.topic, partition = self.partition, offset, new_end, "log truncated");
        Ok(new_end)
    }

    /// A follower behind its leader's log start drops everything and starts there (Kafka's
    /// `truncateFullyAndStartAt`).
    pub async fn restart_at(&self, offset: i64) -> Result<(), LogError> {
        let _io = self.lock_io().await;
        self.write_pending().await?;
        self.reset_to(offset).await
    }

    /// Drops all data and restarts the log empty at `offset` (Kafka's `truncateFullyAndStartAt`).
    pub(super) async fn reset_to(&self, offset: i64) -> Result<(), LogError> {
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
            state.high_watermark = offset;
            state.change_epochs(|e| e.clear());
            self.producers.borrow_mut().clear();
            old.into_values().collect()
        };
        self.delete_segment_files(doomed).await?;
        self.write_log_start_checkpoint(offset).await
    }

    /// Kafka's DeleteRecords: raises the log start offset to `offset` (at most the high
    /// watermark) and deletes segments wholly below it. Returns the new low watermark.
    pub async fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let _io = self.lock_io().await;
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
            state.change_epochs(|e| e.truncate_from_start(offset));
        }
        self.write_log_start_checkpoint(offset).await?;
        self.delete_old_segments(None).await?;
        Ok(offset)
    }

    /// Deletes whole segments past `retention.ms` / `retention.bytes` or below the log start
    /// offset; never the active segment. The log start offset moves up to the first kept segment.
    pub async fn apply_retention(&self) -> Result<RetentionOutcome, LogError> {
        let _io = self.lock_io().await;
        let now_ms = self.clock.now_ms();
        let deleted_segments = self.delete_old_segments(Some(now_ms)).await?;
        Ok(RetentionOutcome {
            deleted_segments,
            log_start_offset: self.log_start_offset(),
        })
    }

    /// Caller holds the I/O lock. `now_ms: None` deletes only segments below the log start.
    pub(super) async fn delete_old_segments(&self, now_ms: Option<i64>) -> Result<usize, LogError> {
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
            state.change_epochs(|e| e.truncate_from_start(start));
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

    pub(super) async fn delete_segment_files(
        &self,
        segments: Vec<Segment>,
    ) -> Result<(), LogError> {
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

    pub(super) async fn write_log_start_checkpoint(&self, offset: i64) -> Result<(), LogError> {
        let path = self.dir.join(LOG_START_CHECKPOINT);
        blocking(move || write_checkpoint(&path, offset)).await
    }

    /// Gives back the space preallocated past the active segment's data, as Kafka trims its
    /// segments on close, so that a closed log is exactly its batches. Caller holds the I/O lock.
    pub(super) async fn trim_active(&self) -> Result<(), LogError> {
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
}
