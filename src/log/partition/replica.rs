//! Replication of the partition (Kafka's `Partition` and `ReplicaManager` roles): this broker
//! leads it or follows another broker. The high watermark is the offset below which every
//! in-sync replica has the records (KIP-101's committed offsets): consumers read below it and
//! `acks=all` is answered once it passes the batch.
//! - A leader's high watermark is the smallest log end among itself (its written offset) and
//!   its in-sync followers (what each last fetched from); it never moves back.
//! - A follower appends the leader's batches unchanged, at the leader's offsets, and takes the
//!   high watermark the leader reports, capped at its own log end.
//! - With no other in-sync replica (one broker, or a shrunk ISR) the high watermark is the
//!   written offset, as before replication.

use std::collections::HashMap;

use super::*;
use crate::error_code::ErrorCode;

/// This broker's part in the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaRole {
    /// Leads it. `in_sync_followers`: the other ISR members; `followers`: what each follower
    /// (in the ISR or not) last told by fetching. An in-sync follower not heard from since
    /// this broker became leader holds the high watermark where it is.
    Leader {
        in_sync_followers: Vec<i32>,
        followers: HashMap<i32, FollowerProgress>,
    },
    /// Follows broker `leader` (-1: the partition has no leader now).
    Follower { leader: i32 },
}

/// Where a follower's fetch went: the leader and the leader epoch it was sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchSource {
    pub leader: i32,
    pub leader_epoch: i32,
}

/// A follower as its leader sees it (Kafka's `Replica` state on the leader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// Its log end: the offset it last fetched from (`i64::MIN` until it fetches).
    pub log_end: i64,
    /// The last time it had everything the leader had (Kafka's `lastCaughtUpTimeMs`): a
    /// follower in the ISR whose time is older than `replica.lag.time.max.ms` leaves it.
    pub caught_up_ms: i64,
    previous_fetch_ms: i64,
    leader_end_at_previous_fetch: i64,
}

impl FollowerProgress {
    /// A follower not heard from yet, counted as caught up at `caught_up_ms`: an in-sync one
    /// when leadership began, one outside the ISR never.
    fn unheard(caught_up_ms: i64, now_ms: i64) -> Self {
        FollowerProgress {
            log_end: i64::MIN,
            caught_up_ms,
            previous_fetch_ms: now_ms,
            leader_end_at_previous_fetch: i64::MAX,
        }
    }

    /// A fetch from `offset` at `now_ms` while the leader's log ends at `leader_end`: caught
    /// up now when it asks for the end, or as of its previous fetch when it has what the
    /// leader had then (Kafka's rule, so that steady writes do not make a keeping-up follower
    /// look behind).
    fn fetched(&mut self, offset: i64, leader_end: i64, now_ms: i64) {
        if offset >= leader_end {
            self.caught_up_ms = now_ms;
        } else if offset >= self.leader_end_at_previous_fetch {
            self.caught_up_ms = self.caught_up_ms.max(self.previous_fetch_ms);
        }
        self.log_end = offset;
        self.previous_fetch_ms = now_ms;
        self.leader_end_at_previous_fetch = leader_end;
    }
}

impl Default for ReplicaRole {
    fn default() -> Self {
        ReplicaRole::Leader {
            in_sync_followers: Vec::new(),
            followers: HashMap::new(),
        }
    }
}

/// The ISR a leader should ask the controller for (AlterPartition), when it differs from
/// `isr`: in-sync followers not caught up within `lag_max_ms` leave; replicas whose log
/// reached the high watermark join. `me` (the leader) always stays.
pub fn isr_proposal(
    isr: &[i32],
    replicas: &[i32],
    me: i32,
    followers: &HashMap<i32, FollowerProgress>,
    high_watermark: i64,
    now_ms: i64,
    lag_max_ms: i64,
) -> Option<Vec<i32>> {
    let mut next: Vec<i32> = isr
        .iter()
        .copied()
        .filter(|b| {
            *b == me
                || followers
                    .get(b)
                    .is_some_and(|f| now_ms - f.caught_up_ms <= lag_max_ms)
        })
        .collect();
    for replica in replicas {
        let caught_up = followers
            .get(replica)
            .is_some_and(|f| f.log_end >= high_watermark);
        // Only a replica outside the ISR joins: one dropped just now would pass the old high
        // watermark, which it held back itself.
        if !isr.contains(replica) && *replica != me && caught_up {
            next.push(*replica);
        }
    }
    (next != isr).then_some(next)
}

impl LogState {
    /// Moves the high watermark as the role allows; `true` when it moved.
    pub(super) fn advance_high_watermark(&mut self) -> bool {
        let next = match &self.role {
            ReplicaRole::Leader {
                in_sync_followers,
                followers,
            } => {
                let followers = in_sync_followers
                    .iter()
                    .map(|f| followers.get(f).map_or(i64::MIN, |p| p.log_end))
                    .min()
                    .unwrap_or(i64::MAX);
                self.written_offset.min(followers).max(self.high_watermark)
            }
            // A follower's high watermark is set from the leader's answers only.
            ReplicaRole::Follower { .. } => self.high_watermark.min(self.written_offset),
        };
        let moved = next != self.high_watermark;
        self.high_watermark = next;
        moved
    }
}

impl PartitionLog {
    /// Writes the high watermark's checkpoint when it moved since the last one (Kafka does
    /// every `replica.high.watermark.checkpoint.interval.ms`; a stale one only makes a
    /// restarted follower truncate more and fetch it again).
    pub async fn checkpoint_high_watermark(&self) -> Result<(), LogError> {
        let hw = self.high_watermark();
        if self.checkpointed_high_watermark.get() == Some(hw) {
            return Ok(());
        }
        let path = self.dir.join(HIGH_WATERMARK_CHECKPOINT);
        blocking(move || write_checkpoint(&path, hw)).await?;
        self.checkpointed_high_watermark.set(Some(hw));
        Ok(())
    }

    /// The high watermark: consumers read below it; `acks=all` waits for it.
    pub fn high_watermark(&self) -> i64 {
        self.state.borrow().high_watermark
    }

    pub fn role(&self) -> ReplicaRole {
        self.state.borrow().role.clone()
    }

    /// The ISR's size as this leader knows it (itself and its in-sync followers); 0 on a
    /// follower.
    pub fn isr_size(&self) -> usize {
        match &self.state.borrow().role {
            ReplicaRole::Leader {
                in_sync_followers, ..
            } => in_sync_followers.len() + 1,
            ReplicaRole::Follower { .. } => 0,
        }
    }

    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        matches!(self.state.borrow().role, ReplicaRole::Leader { .. })
    }

    /// Becomes (or stays) the leader with `in_sync_followers` as the other ISR members.
    /// What followers told by fetching is kept while this broker stays leader.
    /// Returns whether it led before.
    pub fn lead(&self, in_sync_followers: Vec<i32>) -> bool {
        let now_ms = self.clock.now_ms();
        let mut state = self.state.borrow_mut();
        let epochs_before = state.epochs_version;
        state.start_leader_epoch();
        if state.epochs_version != epochs_before {
            // The flusher writes the epoch checkpoint (before any batch of the new epoch).
            self.flusher_wake.notify();
        }
        let unchanged = matches!(&state.role, ReplicaRole::Leader { in_sync_followers: current, .. }
            if *current == in_sync_followers);
        if unchanged {
            // Metadata about other partitions: only the high watermark may need a step (the
            // first metadata after opening), and long polls need waking only if it moved.
            let moved = state.advance_high_watermark();
            drop(state);
            if moved {
                self.append_waiters.wake_all();
            }
            return true;
        }
        let (led, mut followers) = match std::mem::take(&mut state.role) {
            ReplicaRole::Leader { followers, .. } => (true, followers),
            ReplicaRole::Follower { .. } => (false, HashMap::new()),
        };
        for f in &in_sync_followers {
            followers
                .entry(*f)
                .or_insert_with(|| FollowerProgress::unheard(now_ms, now_ms));
        }
        state.role = ReplicaRole::Leader {
            in_sync_followers,
            followers,
        };
        state.advance_high_watermark();
        drop(state);
        // Waiters re-check: an ISR that shrank may have let the high watermark move.
        self.append_waiters.wake_all();
        led
    }

    /// On the leader: each in-sync follower's log end as its last fetch told (KIP-392's
    /// candidates to serve consumers).
    pub fn in_sync_follower_ends(&self) -> Vec<(i32, i64)> {
        let state = self.state.borrow();
        let ReplicaRole::Leader {
            in_sync_followers,
            followers,
        } = &state.role
        else {
            return Vec::new();
        };
        in_sync_followers
            .iter()
            .filter_map(|id| followers.get(id).map(|p| (*id, p.log_end)))
            .collect()
    }

    /// On the leader: each known follower's lag, records behind the leader's written end.
    pub fn follower_lag(&self) -> Vec<(i32, i64)> {
        let state = self.state.borrow();
        let ReplicaRole::Leader { followers, .. } = &state.role else {
            return Vec::new();
        };
        let mut lag: Vec<(i32, i64)> = followers
            .iter()
            .map(|(id, p)| {
                let end = p.log_end.max(state.log_start_offset);
                (*id, (state.written_offset - end).max(0))
            })
            .collect();
        lag.sort_unstable();
        lag
    }

    /// The ISR change this leader should ask for (see [`isr_proposal`]); `None` when none is
    /// due or this broker does not lead.
    pub fn isr_proposal(
        &self,
        isr: &[i32],
        replicas: &[i32],
        me: i32,
        lag_max_ms: i64,
    ) -> Option<Vec<i32>> {
        let state = self.state.borrow();
        let ReplicaRole::Leader { followers, .. } = &state.role else {
            return None;
        };
        isr_proposal(
            isr,
            replicas,
            me,
            followers,
            state.high_watermark,
            self.clock.now_ms(),
            lag_max_ms,
        )
    }

    /// Becomes (or stays) a follower of `leader`: produce waiters hear NOT_LEADER_OR_FOLLOWER.
    /// Returns the role it had.
    pub fn follow(&self, leader: i32) -> ReplicaRole {
        let previous = std::mem::replace(
            &mut self.state.borrow_mut().role,
            ReplicaRole::Follower { leader },
        );
        // Only a leader has producers waiting on it (acks=all): they hear that it stopped.
        if matches!(previous, ReplicaRole::Leader { .. }) {
            self.append_waiters.wake_all();
        }
        previous
    }

    /// Waits until the high watermark reaches `next_offset` (acks=all): every in-sync replica
    /// has the records below it. NOT_LEADER_OR_FOLLOWER when this broker stops leading
    /// meanwhile (the new leader may not have the batch: the producer retries there).
    pub async fn wait_for_high_watermark(&self, next_offset: i64) -> Result<(), ErrorCode> {
        self.append_waiters
            .until(|| {
                let state = self.state.borrow();
                state.closed
                    || !matches!(state.role, ReplicaRole::Leader { .. })
                    || state.high_watermark >= next_offset
            })
            .await;
        let state = self.state.borrow();
        if !matches!(state.role, ReplicaRole::Leader { .. }) {
            Err(ErrorCode::NotLeaderOrFollower)
        } else if state.high_watermark >= next_offset {
            Ok(())
        } else {
            Err(ErrorCode::KafkaStorageError)
        }
    }

    /// A follower fetched from `fetch_offset`: it has every record below it. Returns whether
    /// the high watermark moved (long polls and acks=all waiters are woken then).
    pub fn follower_fetched(&self, follower: i32, fetch_offset: i64) -> bool {
        let now_ms = self.clock.now_ms();
        let mut state = self.state.borrow_mut();
        let leader_end = state.written_offset;
        let ReplicaRole::Leader { followers, .. } = &mut state.role else {
            return false;
        };
        followers
            .entry(follower)
            .or_insert_with(|| FollowerProgress::unheard(i64::MIN / 2, now_ms))
            .fetched(fetch_offset, leader_end, now_ms);
        let moved = state.advance_high_watermark();
        drop(state);
        if moved {
            self.append_waiters.wake_all();
        }
        moved
    }

    /// A follower's high watermark from its leader's fetch answer, capped at this log's end.
    pub fn set_follower_high_watermark(&self, leader_high_watermark: i64) {
        let mut state = self.state.borrow_mut();
        if !matches!(state.role, ReplicaRole::Follower { .. }) {
            return;
        }
        let next = leader_high_watermark.min(state.written_offset);
        let moved = next != state.high_watermark;
        state.high_watermark = next;
        drop(state);
        if moved {
            self.append_waiters.wake_all();
        }
    }

    /// Whether this log follows broker `leader` in leader epoch `leader_epoch`: a fetch
    /// answer from that leader, sent in that epoch, may still be applied (Kafka's replica
    /// fetcher checks the partition's fetch state the same way before it appends).
    pub fn follows(&self, source: FetchSource) -> bool {
        let state = self.state.borrow();
        matches!(state.role, ReplicaRole::Follower { leader } if leader == source.leader)
            && state.leader_epoch == source.leader_epoch
    }

    /// [`PartitionLog::follows`] as a result: StaleFetch when the log no longer follows
    /// `source`. Every change a fetch answer makes checks it first, with no await between the
    /// check and the change.
    pub fn check_follows(&self, source: FetchSource) -> Result<(), LogError> {
        match self.follows(source) {
            true => Ok(()),
            false => Err(LogError::StaleFetch {
                leader: source.leader,
                leader_epoch: source.leader_epoch,
            }),
        }
    }

    /// Appends a leader's batches as they are (a follower's append): offsets, leader epochs
    /// and timestamps stay the leader's; each batch must start at this log's end and pass its
    /// CRC. Idempotent producers' state follows, so a new leader knows their sequences.
    /// Refused (StaleFetch) unless this log still follows `source`: an answer that arrives
    /// after the log became leader, or moved to another leader or epoch, would otherwise put
    /// the old leader's batches after the new epoch's start. Returns the new log end offset.
    pub fn append_replicated(&self, records: Bytes, source: FetchSource) -> Result<i64, LogError> {
        self.check_follows(source)?;
        let config = self.config.borrow();
        let now_ms = self.clock.now_ms();
        let mut state = self.state.borrow_mut();
        if state.closed {
            return Err(LogError::Closed {
                path: self.dir.clone(),
            });
        }
        let mut producers = self.producers.borrow_mut();
        for batch in split_batches(records) {
            let batch = match batch {
                Ok(batch) => batch,
                // A partial batch at the end of a fetch (the leader cut at max_bytes): the
                // next fetch starts at it.
                Err(RecordError::Truncated { .. }) => break,
                Err(e) => return Err(e.into()),
            };
            batch.check_integrity()?;
            if batch.base_offset() != state.log_end_offset {
                return Err(LogError::ReplicaOffsetMismatch {
                    expected: state.log_end_offset,
                    got: batch.base_offset(),
                });
            }
            state.append_replica_batch(&self.dir, batch, now_ms, &config, &mut producers);
        }
        let end = state.log_end_offset;
        drop(state);
        self.flusher_wake.notify();
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follower_ends(pairs: &[(i32, i64)]) -> HashMap<i32, FollowerProgress> {
        pairs
            .iter()
            .map(|(id, end)| {
                let mut p = FollowerProgress::unheard(0, 0);
                p.fetched(*end, i64::MAX, 0);
                (*id, p)
            })
            .collect()
    }

    fn state_with(written: i64, hw: i64, role: ReplicaRole) -> (i64, bool) {
        let dir = std::path::Path::new("/nonexistent");
        let mut state = LogState {
            segments: BTreeMap::from([(0, Segment::new(dir, 0))]),
            log_start_offset: 0,
            log_end_offset: written,
            written_offset: written,
            durable_offset: written,
            high_watermark: hw,
            role,
            last_sync_ms: 0,
            leader_epoch: 0,
            epochs: Default::default(),
            epochs_version: 0,
            tail: TailCache::default(),
            closed: false,
            long_polls_ended: false,
            cleaner_checkpoint: 0,
        };
        let moved = state.advance_high_watermark();
        (state.high_watermark, moved)
    }

    #[test]
    fn the_leaders_high_watermark_is_the_smallest_in_sync_log_end() {
        let alone = ReplicaRole::default();
        assert_eq!(state_with(10, 4, alone), (10, true));
        let two = |ends: &[(i32, i64)]| ReplicaRole::Leader {
            in_sync_followers: vec![2, 3],
            followers: follower_ends(ends),
        };
        assert_eq!(state_with(10, 4, two(&[(2, 7), (3, 9)])), (7, true));
        // A follower not heard from holds it; it never moves back.
        assert_eq!(state_with(10, 4, two(&[(2, 7)])), (4, false));
        assert_eq!(state_with(10, 8, two(&[(2, 7), (3, 9)])), (8, false));
        // The leader's own written end bounds it too.
        assert_eq!(state_with(5, 4, two(&[(2, 7), (3, 9)])), (5, true));
    }

    #[test]
    fn a_followers_high_watermark_never_passes_its_log() {
        let role = ReplicaRole::Follower { leader: 1 };
        assert_eq!(state_with(3, 6, role.clone()), (3, true));
        assert_eq!(state_with(9, 6, role), (6, false));
    }

    #[test]
    fn followers_leave_the_isr_when_behind_too_long_and_join_once_caught_up() {
        let lag = 30_000;
        let mut followers = HashMap::new();
        let mut two = FollowerProgress::unheard(0, 0);
        let mut three = FollowerProgress::unheard(0, 0);
        // Both fetch at the leader's end at t=1s; the leader's log grows to 100 by t=40s.
        two.fetched(50, 50, 1_000);
        three.fetched(50, 50, 1_000);
        // 2 keeps up: each fetch has what the leader had at its previous fetch.
        two.fetched(80, 90, 20_000);
        two.fetched(90, 100, 39_000);
        // 3 fetched again only at t=40s, still at 50.
        three.fetched(50, 100, 40_000);
        followers.insert(2, two);
        followers.insert(3, three);
        let isr = [1, 2, 3];
        assert_eq!(
            isr_proposal(&isr, &isr, 1, &followers, 50, 40_000, lag),
            Some(vec![1, 2]),
            "3 was last caught up at t=1s"
        );
        assert_eq!(
            isr_proposal(&isr, &isr, 1, &followers, 50, 30_000, lag),
            None
        );
        // Out of the ISR, 3 joins again once its log reaches the high watermark.
        let shrunk = [1, 2];
        assert_eq!(
            isr_proposal(&shrunk, &isr, 1, &followers, 60, 40_000, lag),
            None
        );
        followers.get_mut(&3).unwrap().fetched(60, 100, 41_000);
        assert_eq!(
            isr_proposal(&shrunk, &isr, 1, &followers, 60, 41_000, lag),
            Some(vec![1, 2, 3])
        );
    }
}
