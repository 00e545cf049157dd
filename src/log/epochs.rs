//! Kafka's leader epoch cache (KIP-101, KIP-279): for each leader epoch of a partition, the
//! offset of its first record in this log. Every batch carries the epoch of the leader that
//! appended it (`partition_leader_epoch`); the cache is the index of where each epoch begins,
//! so that a replica can ask "where did your log of epoch E end?" (OffsetForLeaderEpoch, or
//! Fetch's `last_fetched_epoch`) and cut its own log exactly where the two diverge, instead of
//! at a high watermark that may be stale. Pure state; `PartitionLog` keeps it with the log and
//! checkpoints it as Kafka's `leader-epoch-checkpoint` file.

/// Kafka's `UNDEFINED_EPOCH` and `UNDEFINED_EPOCH_OFFSET`: no answer for the epoch asked.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

/// Kafka's name for the checkpoint file, per partition directory.
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// Epochs and their start offsets, both strictly increasing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// Records that `epoch` begins at `start_offset` (Kafka's `assign`): a no-op for the latest
    /// epoch at or after its known start, and for invalid values (a batch of a client that
    /// never went through a leader). Entries that the new one contradicts (a later or equal
    /// epoch, or a start at or after this one) go. Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        if let Some(latest) = self.latest() {
            if latest.epoch == epoch && latest.start_offset <= start_offset {
                return false;
            }
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Kafka's `endOffsetFor`: the largest epoch at most `requested` and the offset where it
    /// ended (the next epoch's start, or `log_end` for the latest epoch). An epoch older than
    /// any known ends where the first known begins; one newer than any known, or an empty
    /// cache, has no answer (`UNDEFINED_EPOCH`, `UNDEFINED_OFFSET`).
    pub fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        let Some(latest) = self.latest() else {
            return undefined;
        };
        if requested == UNDEFINED_EPOCH {
            return undefined;
        }
        if requested == latest.epoch {
            return (requested, log_end);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return undefined;
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => (floor.epoch, higher.start_offset),
            None => (requested, higher.start_offset),
        }
    }

    /// The epoch of the record at `offset` (Kafka's `epochForOffset`): that of the last entry
    /// starting at or before it.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.start_offset <= offset)
            .map(|e| e.epoch)
    }

    /// The log was cut to end at `end_offset`: epochs that began at or after it go (Kafka's
    /// `truncateFromEnd`). Returns whether the cache changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.entries.len() != before
    }

    /// The log now starts at `start_offset`: epochs wholly before it go, and the one it falls
    /// in starts there (Kafka's `truncateFromStart`). Returns whether the cache changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let covering = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset);
        match covering {
            Some(i) if i > 0 || self.entries[i].start_offset < start_offset => {
                self.entries.drain(..i);
                self.entries[0].start_offset = start_offset;
                true
            }
            _ => false,
        }
    }

    pub fn clear(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    /// Kafka's checkpoint text: a version line (0), the entry count, then `epoch offset` per
    /// line.
    pub fn encode(&self) -> Vec<u8> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        text.into_bytes()
    }

    /// Parses a checkpoint; `None` when it is not one (wrong version, count or order).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        if lines.next()?.trim() != "0" {
            return None;
        }
        let count: usize = lines.next()?.trim().parse().ok()?;
        let mut cache = LeaderEpochCache::default();
        for _ in 0..count {
            let mut fields = lines.next()?.split_whitespace();
            let epoch: i32 = fields.next()?.parse().ok()?;
            let start_offset: i64 = fields.next()?.parse().ok()?;
            let ordered = cache
                .latest()
                .is_none_or(|l| l.epoch < epoch && l.start_offset < start_offset);
            if epoch < 0 || start_offset < 0 || !ordered {
                return None;
            }
            cache.entries.push(EpochEntry {
                epoch,
                start_offset,
            });
        }
        Some(cache)
    }
}

/// Where a follower cuts its log when the leader answers a fetch with a diverging epoch
/// (`diverging_epoch`, `diverging_end`): Kafka's `getOffsetTruncationState`.
/// - The leader knew no epoch (`UNDEFINED_OFFSET`): the high watermark, as before KIP-101.
/// - This follower has the leader's epoch: the smaller of the two ends of that epoch.
/// - It has an earlier epoch only: the end of that one (the next fetch checks again from
///   there, as Kafka's follower does).
/// - It knows no epoch that old: the leader's end of it.
///
/// Never past this log's end.
pub fn truncation_offset(
    cache: &LeaderEpochCache,
    diverging_epoch: i32,
    diverging_end: i64,
    log_end: i64,
    high_watermark: i64,
) -> i64 {
    if diverging_end == UNDEFINED_OFFSET {
        return high_watermark.min(log_end);
    }
    let (epoch, end) = cache.end_offset_for(diverging_epoch, log_end);
    let target = if end == UNDEFINED_OFFSET {
        diverging_end
    } else if epoch != diverging_epoch {
        end
    } else {
        end.min(diverging_end)
    };
    target.min(log_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::default();
        for (epoch, start) in entries {
            assert!(c.assign(*epoch, *start));
        }
        c
    }

    fn pairs(c: &LeaderEpochCache) -> Vec<(i32, i64)> {
        c.entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    #[test]
    fn assign_keeps_the_first_start_of_each_epoch_and_drops_contradicted_entries() {
        let mut c = cache(&[(0, 0), (2, 10)]);
        // Later batches of the latest epoch change nothing.
        assert!(!c.assign(2, 15));
        // Invalid values (a batch no leader stamped) are ignored.
        assert!(!c.assign(-1, 20));
        assert!(c.assign(3, 20));
        assert_eq!(pairs(&c), vec![(0, 0), (2, 10), (3, 20)]);
        // A new leader of epoch 4 starting at 20 (epoch 3 wrote nothing that stayed).
        assert!(c.assign(4, 20));
        assert_eq!(pairs(&c), vec![(0, 0), (2, 10), (4, 20)]);
        // An earlier start of the latest epoch replaces it.
        assert!(c.assign(4, 18));
        assert_eq!(pairs(&c), vec![(0, 0), (2, 10), (4, 18)]);
    }

    #[test]
    fn end_offset_for_follows_kafkas_answers() {
        let c = cache(&[(1, 0), (3, 10), (5, 25)]);
        // The latest epoch ends at the log end.
        assert_eq!(c.end_offset_for(5, 40), (5, 40));
        // A known epoch ends where the next begins.
        assert_eq!(c.end_offset_for(3, 40), (3, 25));
        // An epoch this log never had: the largest below it, ending where the next begins.
        assert_eq!(c.end_offset_for(4, 40), (3, 25));
        assert_eq!(c.end_offset_for(2, 40), (1, 10));
        // Older than any known: it ends where the first known begins.
        assert_eq!(c.end_offset_for(0, 40), (0, 0));
        // Newer than any known, undefined, or an empty cache: no answer.
        assert_eq!(c.end_offset_for(6, 40), (UNDEFINED_EPOCH, UNDEFINED_OFFSET));
        assert_eq!(
            c.end_offset_for(-1, 40),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
        assert_eq!(
            LeaderEpochCache::default().end_offset_for(1, 40),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
    }

    #[test]
    fn epoch_for_offset_is_the_epoch_that_wrote_it() {
        let c = cache(&[(1, 0), (3, 10)]);
        assert_eq!(c.epoch_for_offset(0), Some(1));
        assert_eq!(c.epoch_for_offset(9), Some(1));
        assert_eq!(c.epoch_for_offset(10), Some(3));
        assert_eq!(c.epoch_for_offset(1000), Some(3));
        assert_eq!(cache(&[(1, 5)]).epoch_for_offset(4), None);
    }

    #[test]
    fn truncation_from_either_end() {
        let mut c = cache(&[(1, 0), (3, 10), (5, 25)]);
        assert!(!c.truncate_from_end(30));
        assert!(c.truncate_from_end(25));
        assert_eq!(pairs(&c), vec![(1, 0), (3, 10)]);
        assert!(c.truncate_from_start(12));
        assert_eq!(pairs(&c), vec![(3, 12)]);
        assert!(!c.truncate_from_start(12));
        assert!(!c.truncate_from_start(5), "a start before the first entry");
        let mut c = cache(&[(1, 0), (3, 10)]);
        assert!(c.truncate_from_start(10));
        assert_eq!(pairs(&c), vec![(3, 10)]);
        assert!(c.truncate_from_end(0));
        assert!(c.latest().is_none());
    }

    #[test]
    fn the_checkpoint_is_kafkas_text_and_refuses_damage() {
        let c = cache(&[(0, 0), (4, 150)]);
        assert_eq!(c.encode(), b"0\n2\n0 0\n4 150\n");
        assert_eq!(LeaderEpochCache::decode(&c.encode()), Some(c));
        assert_eq!(
            LeaderEpochCache::decode(b"0\n0\n"),
            Some(LeaderEpochCache::default())
        );
        for damaged in [
            &b"1\n1\n0 0\n"[..],
            b"0\n2\n0 0\n",
            b"0\n2\n4 0\n2 10\n",
            b"0\n1\nx 0\n",
            b"",
        ] {
            assert_eq!(LeaderEpochCache::decode(damaged), None, "{damaged:?}");
        }
    }

    /// KIP-101's and KIP-279's scenarios, as the follower's cut after the leader's answer.
    #[test]
    fn a_follower_cuts_where_its_log_and_the_leaders_diverge() {
        // The follower led epoch 6 and wrote 100..110 that nobody else has; the new leader
        // (epoch 7) has epochs 5 then 7 from 100. The leader's answer to last_fetched_epoch 6
        // is epoch 5 ending at 100.
        let leader = cache(&[(5, 0), (7, 100)]);
        assert_eq!(leader.end_offset_for(6, 120), (5, 100));
        let follower = cache(&[(5, 0), (6, 100)]);
        assert_eq!(truncation_offset(&follower, 5, 100, 110, 95), 100);
        // Same epoch, the leader's log of it is shorter (KIP-101's case 2).
        let follower = cache(&[(5, 0)]);
        assert_eq!(truncation_offset(&follower, 5, 100, 104, 90), 100);
        // The leader's epoch is unknown here (KIP-279): cut to the end of our last epoch
        // below it; the next fetch checks again.
        let follower = cache(&[(2, 0), (4, 50)]);
        assert_eq!(truncation_offset(&follower, 3, 60, 80, 40), 50);
        // Nothing that old here: the leader's end.
        let follower = cache(&[(4, 50)]);
        assert_eq!(truncation_offset(&follower, 2, 30, 80, 10), 30);
        // The leader knew no epoch: the high watermark.
        assert_eq!(
            truncation_offset(&follower, UNDEFINED_EPOCH, UNDEFINED_OFFSET, 80, 10),
            10
        );
        // Never past the log end.
        assert_eq!(truncation_offset(&cache(&[(5, 0)]), 5, 100, 60, 50), 60);
    }
}
