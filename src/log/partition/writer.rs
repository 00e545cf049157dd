//! The writer: one task at a time writes queued batches to the segment files (direct I/O,
//! group commit), rolls and seals segments, and syncs them as the flush policy asks; producers
//! wait here for the durability their acks need.

use super::*;

impl PartitionLog {
    /// What `acks=all` waits for under the configured flush policy.
    pub fn ack_durability(&self) -> Durability {
        if self.config.borrow().flush.sync_before_ack() {
            Durability::Synced
        } else {
            Durability::Written
        }
    }

    pub(super) fn reached(&self, next_offset: i64, level: Durability) -> Result<bool, LogError> {
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
            let _io = self.lock_io().await;
            if self.reached(next_offset, level)? {
                return Ok(());
            }
            self.write_appended().await?;
            if level == Durability::Synced {
                self.sync().await?;
            }
        }
    }

    /// Writes and syncs everything appended so far.
    pub async fn flush(&self) -> Result<(), LogError> {
        let end = self.log_end_offset();
        self.wait_for(end, Durability::Synced).await
    }

    /// The partition's I/O lock: one writer of its files at a time, served in arrival order.
    pub(crate) async fn lock_io(&self) -> FifoLockGuard<'_> {
        self.io_lock.lock().await
    }

    /// Runs write steps until everything appended is in the files, including what is appended
    /// while they run. Caller holds the I/O lock.
    pub(super) async fn write_pending(&self) -> Result<(), LogError> {
        self.write_steps(None).await
    }

    /// Runs write steps until everything appended before the call is in the files (and a
    /// segment seal that is due), and leaves what is appended meanwhile to the next holder of
    /// the I/O lock. Chasing new appends kept the lock for as long as producers outpaced the
    /// writes (whenever a catch-up reader slowed the disk), while acks=all waiters queued
    /// behind it for their fdatasync. Caller holds the I/O lock.
    pub(super) async fn write_appended(&self) -> Result<(), LogError> {
        let target = self.state.borrow().log_end_offset;
        self.write_steps(Some(target)).await
    }

    async fn write_steps(&self, until: Option<i64>) -> Result<(), LogError> {
        self.checkpoint_leader_epochs().await?;
        loop {
            let step = {
                let config = self.config.borrow();
                let mut state = self.state.borrow_mut();
                let written = until.is_some_and(|target| state.written_offset >= target);
                if written && !state.seal_is_next() {
                    return Ok(());
                }
                state.next_write_step(&config)
            };
            match step {
                None => return Ok(()),
                Some(step) => self.run_write_step(step).await?,
            }
        }
    }

    pub(super) async fn run_write_step(&self, step: WriteStep) -> Result<(), LogError> {
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
                // The high watermark moved: fetches long-polling for data may answer.
                self.append_waiters.wake_all();
            }
            WriteStep::Seal {
                base,
                file,
                path,
                size,
                next_offset,
                index,
                time_index,
                txn_index,
                producers,
            } => {
                // Trim the preallocated space so a sealed segment is exactly its batches, as in
                // Kafka, then make it durable before its index files say it is complete.
                truncate_and_sync(&file, &path, size).await?;
                // Idempotent producers' state where the next segment starts (Kafka's
                // `<offset>.snapshot`): recovery scans only the active segment on top of it.
                let snapshot = (
                    recovery::snapshot_path(&self.dir, next_offset),
                    producers
                        .unwrap_or_else(|| self.producers.borrow().snapshot_before(next_offset)),
                );
                let previous_snapshot = recovery::snapshot_path(&self.dir, base);
                blocking(move || {
                    write_file_atomically(&index.0, &index.1)?;
                    write_file_atomically(&time_index.0, &time_index.1)?;
                    write_txn_index(&txn_index.0, &txn_index.1)?;
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
    pub(super) async fn sync(&self) -> Result<(), LogError> {
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
    pub(super) fn sync_due(&self) -> bool {
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
    pub(super) fn sync_timer(&self) -> Option<Duration> {
        let ms = self.config.borrow().flush.interval_ms?;
        let state = self.state.borrow();
        if state.log_end_offset == state.durable_offset {
            return None;
        }
        let due = state.last_sync_ms + ms as i64 - self.clock.now_ms();
        Some(Duration::from_millis(due.max(1) as u64))
    }

    pub(super) async fn background_flush(&self) -> Result<(), LogError> {
        let _io = self.lock_io().await;
        self.write_appended().await?;
        if self.sync_due() {
            self.sync().await?;
        }
        Ok(())
    }
}

/// Writes appended data to the files soon after it arrives (write-behind), so that memory stays
/// bounded and acks=1 waiters find it done, and applies `log.flush.interval.*`.
pub(super) async fn run_flusher(log: Weak<PartitionLog>, wake: Rc<Notify>) {
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
