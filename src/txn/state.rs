//! A transactional id's metadata and its states, as Kafka's transaction coordinator keeps them
//! (`TransactionMetadata`, `TransactionState`), with the transitions between them as pure
//! functions: each takes the current metadata and returns the next, or the error code Kafka
//! answers. Nothing here writes or sends; the coordinator (`coordinator.rs`) decides when.

use std::collections::BTreeSet;

use crate::error_code::ErrorCode;

/// No producer id (Kafka's `RecordBatch.NO_PRODUCER_ID`).
pub const NO_PRODUCER_ID: i64 = -1;
/// No producer epoch (`RecordBatch.NO_PRODUCER_EPOCH`).
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Kafka's transaction states, with the ids `__transaction_state` stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// Initialised, no transaction begun.
    Empty = 0,
    /// Partitions added: a transaction is open.
    Ongoing = 1,
    /// EndTxn(commit) accepted; markers are being written.
    PrepareCommit = 2,
    /// EndTxn(abort), a timeout or a fencing accepted; markers are being written.
    PrepareAbort = 3,
    CompleteCommit = 4,
    CompleteAbort = 5,
    /// Expired (`transactional.id.expiration.ms`): its tombstone is being written.
    Dead = 6,
    /// Bumping the epoch to fence an older producer of the same id.
    PrepareEpochFence = 7,
}

impl TxnState {
    pub fn id(self) -> i8 {
        self as i8
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name DescribeTransactions and ListTransactions use.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        (0..=7)
            .filter_map(TxnState::from_id)
            .find(|s| s.name() == name)
    }

    /// Whether markers are being written (commit or abort decided, not yet complete).
    pub fn is_preparing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }

    /// Whether no transaction is open or closing: a new one may begin, the id may expire.
    pub fn is_idle(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

/// A partition of a transaction (or the `__consumer_offsets` partition of its offsets).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnPartition {
    pub topic: String,
    pub partition: i32,
}

/// What the coordinator knows of one transactional id; this is what `__transaction_state`
/// stores for it (the last epoch only lives in memory, as in Kafka).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The epoch the producer uses now.
    pub producer_epoch: i16,
    /// The epoch before the last bump (KIP-360: a producer that lost the answer to its
    /// InitProducerId retries with it), or NO_PRODUCER_EPOCH.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TxnPartition>,
    /// When the open transaction began (its first partition), or -1.
    pub start_ms: i64,
    pub last_update_ms: i64,
}

/// A producer that names the id and epoch it had (InitProducerId v3+, KIP-360).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// The epoch a producer id may not go beyond: at it, the next bump takes a new producer id.
fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

impl TxnMetadata {
    /// A transactional id seen for the first time, with producer id `producer_id`, before its
    /// first epoch is handed out.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
        }
    }

    /// InitProducerId on an idle id: the next epoch (Kafka's `prepareIncrementProducerEpoch`),
    /// or `Rotate` when the epochs of this producer id are used up. A producer naming an
    /// epoch that is neither the current one nor the last gets PRODUCER_FENCED.
    pub fn bump_epoch(
        &self,
        timeout_ms: i32,
        expected: Option<ExpectedProducer>,
        now_ms: i64,
    ) -> Result<Bump, ErrorCode> {
        let (epoch, last) = match expected {
            None => (self.producer_epoch.wrapping_add(1), NO_PRODUCER_EPOCH),
            Some(e)
                if self.producer_epoch == NO_PRODUCER_EPOCH
                    || e.producer_epoch == self.producer_epoch =>
            {
                (self.producer_epoch.wrapping_add(1), self.producer_epoch)
            }
            // A retry of an InitProducerId that succeeded: the answer it lost, unchanged.
            Some(e) if e.producer_epoch == self.last_producer_epoch => {
                (self.producer_epoch, self.last_producer_epoch)
            }
            Some(_) => return Err(ErrorCode::ProducerFenced),
        };
        if epoch_exhausted(self.producer_epoch) && epoch != self.producer_epoch {
            return Ok(Bump::Rotate);
        }
        Ok(Bump::Next(TxnMetadata {
            producer_epoch: epoch,
            last_producer_epoch: last,
            ..TxnMetadata::new(&self.transactional_id, self.producer_id, timeout_ms, now_ms)
        }))
    }

    /// The same id on a new producer id at epoch 0 (`prepareProducerIdRotation`).
    pub fn rotate(&self, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            producer_epoch: 0,
            ..TxnMetadata::new(&self.transactional_id, producer_id, timeout_ms, now_ms)
        }
    }

    /// Checks that a request from (`producer_id`, `producer_epoch`) may act on this id:
    /// INVALID_PRODUCER_ID_MAPPING for another producer id, PRODUCER_FENCED for another epoch.
    pub fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> Result<(), ErrorCode> {
        if producer_id != self.producer_id {
            Err(ErrorCode::InvalidProducerIdMapping)
        } else if producer_epoch != self.producer_epoch {
            Err(ErrorCode::ProducerFenced)
        } else {
            Ok(())
        }
    }

    /// Partitions join the transaction (`prepareAddPartitions`): it is Ongoing, and began now
    /// unless it was open already.
    pub fn add_partitions(
        &self,
        added: impl IntoIterator<Item = TxnPartition>,
        now_ms: i64,
    ) -> Self {
        let mut partitions = self.partitions.clone();
        partitions.extend(added);
        TxnMetadata {
            state: TxnState::Ongoing,
            start_ms: match self.state {
                TxnState::Ongoing => self.start_ms,
                _ => now_ms,
            },
            partitions,
            last_update_ms: now_ms,
            ..self.clone()
        }
    }

    /// The transaction ends (`prepareAbortOrCommit`): PrepareCommit or PrepareAbort, with the
    /// same partitions, whose markers are written next.
    pub fn prepare_end(&self, commit: bool, now_ms: i64) -> Self {
        TxnMetadata {
            state: match commit {
                true => TxnState::PrepareCommit,
                false => TxnState::PrepareAbort,
            },
            last_update_ms: now_ms,
            ..self.clone()
        }
    }

    /// An abort the coordinator starts itself, for a transaction past its timeout or an
    /// InitProducerId that finds one open: the epoch is bumped first, so the producer that
    /// opened it is fenced on every partition by the markers' epoch.
    pub fn fence_and_abort(&self, now_ms: i64) -> Self {
        let epoch = match self.producer_epoch {
            i16::MAX => i16::MAX,
            epoch => epoch + 1,
        };
        TxnMetadata {
            producer_epoch: epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            state: TxnState::PrepareAbort,
            last_update_ms: now_ms,
            ..self.clone()
        }
    }

    /// All markers are written (`prepareComplete`).
    pub fn complete(&self, now_ms: i64) -> Self {
        TxnMetadata {
            state: match self.state {
                TxnState::PrepareCommit => TxnState::CompleteCommit,
                _ => TxnState::CompleteAbort,
            },
            partitions: BTreeSet::new(),
            last_update_ms: now_ms,
            ..self.clone()
        }
    }

    /// Expired: the id's tombstone is written next (`prepareDead`).
    pub fn dead(&self) -> Self {
        TxnMetadata {
            state: TxnState::Dead,
            partitions: BTreeSet::new(),
            ..self.clone()
        }
    }
}

/// What InitProducerId on an idle id leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bump {
    Next(TxnMetadata),
    /// The producer id's epochs are used up: rotate to a new producer id.
    Rotate,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TxnPartition {
        TxnPartition {
            topic: topic.into(),
            partition,
        }
    }

    fn initialised(epoch: i16) -> TxnMetadata {
        TxnMetadata {
            producer_epoch: epoch,
            ..TxnMetadata::new("t", 7, 60_000, 0)
        }
    }

    fn next(bump: Result<Bump, ErrorCode>) -> TxnMetadata {
        match bump {
            Ok(Bump::Next(meta)) => meta,
            other => panic!("expected a bump, got {other:?}"),
        }
    }

    #[test]
    fn states_keep_kafkas_ids_and_names() {
        for id in 0..=7 {
            let state = TxnState::from_id(id).unwrap();
            assert_eq!(state.id(), id);
            assert_eq!(TxnState::from_name(state.name()), Some(state));
        }
        assert_eq!(TxnState::from_id(8), None);
        assert_eq!(TxnState::PrepareEpochFence.name(), "PrepareEpochFence");
    }

    #[test]
    fn a_new_id_gets_epoch_zero_and_each_init_bumps_it() {
        let fresh = TxnMetadata::new("t", 7, 60_000, 0);
        let first = next(fresh.bump_epoch(60_000, None, 1));
        assert_eq!((first.producer_id, first.producer_epoch), (7, 0));
        let second = next(first.bump_epoch(30_000, None, 2));
        assert_eq!(second.producer_epoch, 1);
        assert_eq!(second.timeout_ms, 30_000);
        assert_eq!(second.last_producer_epoch, NO_PRODUCER_EPOCH);
    }

    #[test]
    fn kip_360_a_producer_naming_its_epoch_is_bumped_a_retry_gets_the_same_and_others_are_fenced() {
        let current = initialised(4);
        let expected = |producer_epoch| {
            Some(ExpectedProducer {
                producer_id: 7,
                producer_epoch,
            })
        };
        let bumped = next(current.bump_epoch(60_000, expected(4), 1));
        assert_eq!((bumped.producer_epoch, bumped.last_producer_epoch), (5, 4));
        // The answer was lost; the producer retries with the epoch it had.
        let retried = next(bumped.bump_epoch(60_000, expected(4), 2));
        assert_eq!(
            (retried.producer_epoch, retried.last_producer_epoch),
            (5, 4)
        );
        assert_eq!(
            bumped.bump_epoch(60_000, expected(2), 3),
            Err(ErrorCode::ProducerFenced)
        );
    }

    #[test]
    fn a_used_up_producer_id_rotates() {
        let old = initialised(i16::MAX - 1);
        assert_eq!(old.bump_epoch(60_000, None, 1), Ok(Bump::Rotate));
        let rotated = old.rotate(8, 60_000, 1);
        assert_eq!((rotated.producer_id, rotated.producer_epoch), (8, 0));
    }

    #[test]
    fn requests_from_another_producer_or_epoch_are_refused() {
        let meta = initialised(3);
        assert_eq!(meta.check_producer(7, 3), Ok(()));
        assert_eq!(
            meta.check_producer(8, 3),
            Err(ErrorCode::InvalidProducerIdMapping)
        );
        assert_eq!(meta.check_producer(7, 2), Err(ErrorCode::ProducerFenced));
    }

    #[test]
    fn a_transaction_runs_from_its_first_partition_to_its_markers() {
        let idle = initialised(0);
        let open = idle.add_partitions([tp("a", 0)], 10);
        assert_eq!((open.state, open.start_ms), (TxnState::Ongoing, 10));
        let wider = open.add_partitions([tp("a", 1), tp("a", 0)], 20);
        assert_eq!(wider.start_ms, 10, "still the same transaction");
        assert_eq!(wider.partitions.len(), 2);
        let preparing = wider.prepare_end(true, 30);
        assert_eq!(preparing.state, TxnState::PrepareCommit);
        assert_eq!(preparing.partitions, wider.partitions);
        let done = preparing.complete(40);
        assert_eq!(done.state, TxnState::CompleteCommit);
        assert!(done.partitions.is_empty());
        let next_txn = done.add_partitions([tp("b", 0)], 50);
        assert_eq!(next_txn.start_ms, 50, "a new transaction");
    }

    #[test]
    fn an_abort_the_coordinator_starts_bumps_the_epoch() {
        let open = initialised(2).add_partitions([tp("a", 0)], 10);
        let aborting = open.fence_and_abort(20);
        assert_eq!(aborting.state, TxnState::PrepareAbort);
        assert_eq!(aborting.producer_epoch, 3);
        assert_eq!(aborting.complete(30).state, TxnState::CompleteAbort);
        assert_eq!(
            aborting.check_producer(7, 2),
            Err(ErrorCode::ProducerFenced),
            "the producer that opened it is fenced"
        );
    }
}
