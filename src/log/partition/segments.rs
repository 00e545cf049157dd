//! The segment list as the log cleaner and recovery's truncation see it: what they read of it
//! and the few changes they make, as methods, so that neither reaches into the log's state.

use super::*;

/// A sealed segment the cleaner may read without the I/O lock (sealed files never change).
#[derive(Clone)]
pub(crate) struct SealedSegment {
    pub base: i64,
    /// Where the segment's offset range ends: the next segment's base offset.
    pub end: i64,
    pub file: Rc<DmaFile>,
    pub path: PathBuf,
    pub size: u64,
    pub max_timestamp_ms: i64,
}

/// The active segment's file, for recovery to cut at an offset.
pub(crate) struct ActiveFile {
    pub base: i64,
    pub file: Rc<DmaFile>,
    pub path: PathBuf,
    /// The index's position for the offset: the scan for the cut starts there.
    pub scan_from: u64,
    /// Bytes written to the file.
    pub written: u64,
}

impl PartitionLog {
    /// The cleaner's candidates, oldest first: sealed segments not wholly below the log start,
    /// up to the first one still being written or younger than `min_compaction_lag_ms`; and
    /// the cleaner checkpoint. `None` when there is none, or while the active segment has no
    /// file (then the last file on disk would be a compacted segment, whose end offset a
    /// recovery scan could not know).
    pub(crate) fn cleanable_segments(
        &self,
        min_compaction_lag_ms: i64,
        now_ms: i64,
    ) -> Option<(Vec<SealedSegment>, i64)> {
        let state = self.state.borrow();
        state.segments.values().next_back()?.file.as_ref()?;
        // Kafka cleans below the first unstable offset only: an open transaction's records
        // may still be aborted, so neither they nor what they would supersede are decided.
        let stable = self
            .producers
            .borrow()
            .last_stable_offset(state.high_watermark);
        let bases: Vec<i64> = state.segments.keys().copied().collect();
        let mut segments = Vec::new();
        for pair in bases.windows(2) {
            let seg = &state.segments[&pair[0]];
            let lagging = min_compaction_lag_ms > 0
                && seg.max_timestamp_ms > now_ms.saturating_sub(min_compaction_lag_ms);
            if seg.state != SegmentState::Sealed || lagging || pair[1] > stable {
                break;
            }
            if pair[1] <= state.log_start_offset {
                continue; // wholly below the log start: retention deletes it
            }
            segments.push(SealedSegment {
                base: seg.base_offset,
                end: pair[1],
                file: seg.file.clone()?,
                path: seg.log_path.clone(),
                size: seg.size_bytes,
                max_timestamp_ms: seg.max_timestamp_ms,
            });
        }
        (!segments.is_empty()).then_some((segments, state.cleaner_checkpoint))
    }

    /// Whether the log is open and every segment of `bases` is still there and sealed (no
    /// retention, DeleteRecords or truncation took one meanwhile).
    pub(crate) fn all_sealed(&self, bases: &[i64]) -> bool {
        let state = self.state.borrow();
        !state.closed
            && bases.iter().all(|b| {
                state
                    .segments
                    .get(b)
                    .is_some_and(|s| s.state == SegmentState::Sealed)
            })
    }

    /// The transaction index entries of the segments `bases`, in order: a compacted segment
    /// keeps its inputs' (their markers stay).
    pub(crate) fn aborted_in(&self, bases: &[i64]) -> Vec<AbortedTxn> {
        let state = self.state.borrow();
        bases
            .iter()
            .filter_map(|b| state.segments.get(b))
            .flat_map(|s| s.aborted.iter().copied())
            .collect()
    }

    /// Puts `segment` (compacted) in place of the segments `replaced`; reads from the tail
    /// cache no longer serve the batches it compacted away.
    pub(crate) fn replace_segments(&self, replaced: &[i64], segment: Segment) {
        let mut state = self.state.borrow_mut();
        for base in replaced {
            state.segments.remove(base);
        }
        let end = segment.next_offset;
        state.tail.drop_before(end);
        state.segments.insert(segment.base_offset, segment);
    }

    /// The active segment's file, to cut at `offset`; `Err(next offset)` when it has none yet.
    pub(crate) fn active_file(&self, offset: i64) -> Result<ActiveFile, i64> {
        let state = self.state.borrow();
        let seg = state
            .segments
            .values()
            .next_back()
            .expect("a partition log always has an active segment");
        let Some(file) = seg.file.clone() else {
            return Err(seg.next_offset);
        };
        Ok(ActiveFile {
            base: seg.base_offset,
            file,
            path: seg.log_path.clone(),
            scan_from: seg.index.lookup(offset),
            written: seg.written_bytes,
        })
    }

    /// Offsets below have been through the log cleaner.
    pub(crate) fn cleaner_checkpoint(&self) -> i64 {
        self.state.borrow().cleaner_checkpoint
    }

    /// Puts a segment rebuilt by recovery's truncation back in place (same base offset).
    pub(crate) fn put_segment(&self, segment: Segment) {
        let mut state = self.state.borrow_mut();
        state.segments.insert(segment.base_offset, segment);
    }
}
