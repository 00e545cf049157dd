//! The partition's leader epochs (`log::epochs`): kept as batches are appended and the log is
//! cut, checkpointed by the writer before the batches they describe, and asked for by
//! OffsetForLeaderEpoch, Fetch's divergence check (`last_fetched_epoch`, KIP-595's form of
//! KIP-101/279) and ListOffsets. Requests that carry the partition's leader epoch as the
//! client knows it are checked here too (KIP-320).

use super::*;
use crate::error_code::ErrorCode;
use crate::log::epochs::{truncation_offset, UNDEFINED_EPOCH, UNDEFINED_OFFSET};

/// Kafka's "no epoch given" value of `current_leader_epoch` and `last_fetched_epoch`.
pub const NO_EPOCH: i32 = -1;

impl PartitionLog {
    /// The partition's leader epoch as this broker's metadata has it.
    pub fn leader_epoch(&self) -> i32 {
        self.state.borrow().leader_epoch
    }

    /// KIP-320: a request naming the partition's leader epoch (`current_leader_epoch`) is
    /// served only in that epoch. An older one gets FENCED_LEADER_EPOCH (the client's metadata
    /// is stale), a newer one UNKNOWN_LEADER_EPOCH (this broker's is); both make the client
    /// refresh its metadata and retry. -1 skips the check.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), ErrorCode> {
        let ours = self.leader_epoch();
        match current_leader_epoch {
            NO_EPOCH => Ok(()),
            e if e < ours => Err(ErrorCode::FencedLeaderEpoch),
            e if e > ours => Err(ErrorCode::UnknownLeaderEpoch),
            _ => Ok(()),
        }
    }

    /// The newest epoch with a start in this log: a follower's `last_fetched_epoch`.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.state.borrow().epochs.latest().map(|e| e.epoch)
    }

    /// OffsetForLeaderEpoch's answer: the largest epoch at most `epoch` and where it ended in
    /// this log (see `LeaderEpochCache::end_offset_for`).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let state = self.state.borrow();
        state.epochs.end_offset_for(epoch, state.log_end_offset)
    }

    /// The epoch of the leader that appended `offset` (ListOffsets' `leader_epoch`).
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.state.borrow().epochs.epoch_for_offset(offset)
    }

    /// Where every epoch begins, oldest first (tests and tools).
    pub fn epoch_starts(&self) -> Vec<(i32, i64)> {
        let state = self.state.borrow();
        let entries = state.epochs.entries();
        entries.iter().map(|e| (e.epoch, e.start_offset)).collect()
    }

    /// On the leader, a fetch from `fetch_offset` whose last batch had `last_fetched_epoch`:
    /// the epoch and end offset where the fetcher's log and this one part (Fetch v12's
    /// `diverging_epoch`), when they do. The fetcher's log diverges when this log has no such
    /// epoch (a smaller one answers) or that epoch ended here before `fetch_offset` (Kafka's
    /// `Partition.readRecords`).
    pub fn diverging_epoch(
        &self,
        last_fetched_epoch: i32,
        fetch_offset: i64,
    ) -> Option<(i32, i64)> {
        if last_fetched_epoch == NO_EPOCH {
            return None;
        }
        let (epoch, end) = self.end_offset_for_epoch(last_fetched_epoch);
        // No answer at all: a leader always starts its own epoch, so this cannot be asked of
        // one; the read goes on and its offsets are checked as usual.
        if epoch == UNDEFINED_EPOCH && end == UNDEFINED_OFFSET {
            return None;
        }
        (epoch < last_fetched_epoch || end < fetch_offset).then_some((epoch, end))
    }

    /// A follower whose leader answered `diverging` (epoch, end offset) cuts its log there
    /// (see `epochs::truncation_offset`), unless it no longer follows `source` (StaleFetch).
    /// Returns the new log end.
    pub async fn truncate_to_divergence(
        &self,
        epoch: i32,
        end: i64,
        source: FetchSource,
    ) -> Result<i64, LogError> {
        self.check_follows(source)?;
        let target = {
            let state = self.state.borrow();
            truncation_offset(
                &state.epochs,
                epoch,
                end,
                state.log_end_offset,
                state.high_watermark,
            )
        };
        tracing::info!(
            topic = %self.topic,
            partition = self.partition,
            leader_epoch = epoch,
            leader_end_offset = end,
            log_end_offset = self.log_end_offset(),
            truncate_to = target,
            "log diverges from the leader's: truncating"
        );
        self.truncate_to(target).await
    }

    /// Writes the leader epoch checkpoint when the epochs changed since the last one. The
    /// writer calls it before writing batches, so a new epoch is on disk before the data of
    /// it. Caller holds the I/O lock (one writer of the file).
    pub(super) async fn checkpoint_leader_epochs(&self) -> Result<(), LogError> {
        let (version, bytes) = {
            let state = self.state.borrow();
            if state.epochs_version == self.checkpointed_epochs_version.get() {
                return Ok(());
            }
            (state.epochs_version, state.epochs.encode())
        };
        let path = self.dir.join(LEADER_EPOCH_CHECKPOINT);
        blocking(move || write_file_atomically(&path, &bytes)).await?;
        self.checkpointed_epochs_version.set(version);
        Ok(())
    }
}

impl LogState {
    /// A leader of `leader_epoch` starts it at its log end (Kafka's `makeLeader`), so that
    /// followers learn where the previous epochs ended even before it appends anything.
    /// An epoch older than the cache's latest (metadata cannot go back; a damaged log could
    /// claim it) changes nothing.
    pub(super) fn start_leader_epoch(&mut self) {
        let (epoch, start) = (self.leader_epoch, self.log_end_offset);
        if self.epochs.latest().is_none_or(|l| epoch >= l.epoch) {
            self.change_epochs(|e| e.assign(epoch, start));
        }
    }
}
