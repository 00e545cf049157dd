//! Reads: fetches from the tail cache or the segment files, ListOffsets by timestamp, and the
//! long polls that wait for the log to grow.

use super::*;
use crate::record::{declared_batch_span, BATCH_HEADER_LEN};

impl PartitionLog {
    /// Resolves once the high watermark passes `offset` (a fetch at the high watermark
    /// long-polling for data: the writer wakes it when a write lands), or the log is closed or
    /// shutting down. Callers bound the wait with a timeout.
    pub async fn wait_for_append(&self, offset: i64) {
        self.append_waiters
            .until(|| {
                let state = self.state.borrow();
                state.closed || state.long_polls_ended || state.high_watermark > offset
            })
            .await
    }

    /// Resolves once records at `offset` are written (a follower's fetch long-polling: a
    /// replica reads up to the written end, not the high watermark), or the log is closed or
    /// shutting down.
    pub async fn wait_for_write(&self, offset: i64) {
        self.append_waiters
            .until(|| {
                let state = self.state.borrow();
                state.closed || state.long_polls_ended || state.written_offset > offset
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

    /// Whole batches from `from_offset` up to the log end (see [`PartitionLog::read_below`]).
    pub async fn read(&self, from_offset: i64, max_bytes: usize) -> Result<ReadBatches, LogError> {
        self.read_below(from_offset, max_bytes, i64::MAX).await
    }

    /// Whole batches from `from_offset` on that end below `end_offset` (a client fetch passes
    /// the high watermark), at most `max_bytes` unless the first batch alone is larger (it is
    /// then returned whole, as Kafka does so that consumers make progress). An offset between
    /// `end_offset` and the log end reads nothing, as Kafka answers a consumer past the high
    /// watermark. Recent batches come from memory; older ones from the segment file.
    pub async fn read_below(
        &self,
        from_offset: i64,
        max_bytes: usize,
        end_offset: i64,
    ) -> Result<ReadBatches, LogError> {
        let mut segment_floor = from_offset;
        loop {
            let (span, index_position, mut read) = {
                let state = self.state.borrow();
                state.check_offset(from_offset)?;
                if from_offset >= state.log_end_offset.min(end_offset) {
                    return Ok(state.empty_read());
                }
                if state
                    .tail
                    .first_offset()
                    .is_some_and(|first| first <= from_offset)
                {
                    return Ok(state.read_cached(from_offset, max_bytes, end_offset));
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
                let span = SegmentSpan {
                    id: seg.read_id,
                    file,
                    path: seg.log_path.clone(),
                    end: seg.written_bytes,
                };
                (span, seg.index.lookup(from_offset), state.empty_read())
            };
            let mut cursor = self.read_ahead.cursor(span, index_position, from_offset);
            let mut taken = TakenBytes::default();
            let mut header = [0u8; BATCH_HEADER_LEN];
            while cursor.position() < cursor.end() {
                cursor.peek(&mut header).await?;
                let (size, last_offset) =
                    declared_batch_span(&header).map_err(|e| LogError::Corrupt {
                        path: cursor.path().to_path_buf(),
                        position: cursor.position(),
                        reason: e.to_string(),
                    })?;
                if last_offset < from_offset {
                    cursor.skip(size);
                    continue;
                }
                // The first batch is returned whole whatever its size; after it, a batch that
                // would not fit ends the read before its bytes are read from the file.
                if last_offset >= end_offset
                    || (!taken.is_empty() && taken.len() + size > max_bytes)
                {
                    break;
                }
                cursor.take(size, &mut taken).await?;
                read.last_offset = Some(last_offset);
            }
            cursor.finish(read.last_offset.map_or(from_offset, |last| last + 1));
            if !taken.is_empty() {
                read.size_bytes = taken.len();
                read.fragments = taken.into_slices();
                read.shard_bound = true;
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
