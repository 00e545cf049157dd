//! The transaction coordinator's decisions for one `__transaction_state` partition, apart from
//! all I/O: each request or timer gives a [`Step`] — answer now, or write the id's next
//! metadata to the partition and, once that write is committed, answer and (for an ending
//! transaction) write the markers. While an id's write is in flight it takes no other
//! transition; requests meanwhile get CONCURRENT_TRANSACTIONS, as in Kafka. The shell that owns
//! the partition's log performs the steps and reports back (`written`, `write_failed`,
//! `markers_written`).

use std::collections::{BTreeMap, BTreeSet};

use super::log_format;
use super::state::{Bump, ExpectedProducer, TxnMetadata, TxnPartition, TxnState};
use crate::error_code::ErrorCode;

/// The broker keys the coordinator follows.
#[derive(Debug, Clone, Copy)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: an idle id unused this long is forgotten.
    pub expiration_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            expiration_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// InitProducerId's producer id and epoch.
    Producer {
        producer_id: i64,
        producer_epoch: i16,
    },
    Done,
}

pub type Answer = Result<Reply, ErrorCode>;

/// The markers that end a transaction on each of its partitions (WriteTxnMarkers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The epoch the markers carry: a producer writing with an older one is fenced.
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: Vec<TxnPartition>,
}

impl Markers {
    /// The markers that end `meta`'s transaction as it is being prepared.
    fn of(meta: &TxnMetadata) -> Markers {
        Markers {
            transactional_id: meta.transactional_id.clone(),
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            commit: meta.state == TxnState::PrepareCommit,
            partitions: meta.partitions.iter().cloned().collect(),
        }
    }
}

/// What the shell does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Answer the request now; nothing changes.
    Answer(Answer),
    /// InitProducerId for an id without one: allocate a producer id and ask again with it.
    NeedProducerId,
    /// Append `metadata` to the partition (a tombstone when its state is Dead). Once the write
    /// is committed, call `written`, then answer with `answer` if any and write `markers` if
    /// any. If it fails, call `write_failed` and answer the failure.
    Write {
        metadata: TxnMetadata,
        answer: Option<Answer>,
        markers: Option<Markers>,
    },
}

impl Step {
    fn write(metadata: TxnMetadata, answer: Option<Answer>) -> Step {
        Step::Write {
            metadata,
            answer,
            markers: None,
        }
    }

    /// A write of a transaction that is ending, followed by its markers.
    fn ending(metadata: TxnMetadata, answer: Option<Answer>) -> Step {
        Step::Write {
            markers: Some(Markers::of(&metadata)),
            metadata,
            answer,
        }
    }
}

fn refuse(code: ErrorCode) -> Step {
    Step::Answer(Err(code))
}

/// The transactional ids of one `__transaction_state` partition.
#[derive(Debug, Default)]
pub struct TxnCoordinator {
    config: TxnConfig,
    ids: BTreeMap<String, TxnMetadata>,
    /// Ids with a write in flight.
    pending: BTreeSet<String>,
}

impl TxnCoordinator {
    pub fn new(config: TxnConfig) -> Self {
        TxnCoordinator {
            config,
            ..TxnCoordinator::default()
        }
    }

    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.ids.get(transactional_id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &TxnMetadata> {
        self.ids.values()
    }

    /// The id's metadata if no write of it is in flight; CONCURRENT_TRANSACTIONS otherwise.
    fn settled(&self, transactional_id: &str) -> Result<Option<&TxnMetadata>, ErrorCode> {
        match self.pending.contains(transactional_id) {
            true => Err(ErrorCode::ConcurrentTransactions),
            false => Ok(self.ids.get(transactional_id)),
        }
    }

    /// Records that a step's write is in flight.
    fn start(&mut self, step: Step) -> Step {
        if let Step::Write { metadata, .. } = &step {
            self.pending.insert(metadata.transactional_id.clone());
        }
        step
    }

    /// InitProducerId with a transactional id. `fresh_producer_id` is a newly allocated id,
    /// given when a previous call answered `NeedProducerId`.
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<ExpectedProducer>,
        now_ms: i64,
        fresh_producer_id: Option<i64>,
    ) -> Step {
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return refuse(ErrorCode::InvalidTransactionTimeout);
        }
        let current = match self.settled(transactional_id) {
            Ok(current) => current.cloned(),
            Err(code) => return refuse(code),
        };
        let step = match current {
            None => {
                let Some(producer_id) = fresh_producer_id else {
                    return Step::NeedProducerId;
                };
                let new = TxnMetadata::new(transactional_id, producer_id, timeout_ms, now_ms);
                match new.bump_epoch(timeout_ms, None, now_ms) {
                    Ok(Bump::Next(first)) => {
                        let answer = producer_answer(&first);
                        Step::write(first, Some(answer))
                    }
                    _ => return refuse(ErrorCode::UnknownServerError),
                }
            }
            // KIP-360: the producer id a producer names must be this id's.
            Some(meta) if expected.is_some_and(|e| e.producer_id != meta.producer_id) => {
                return refuse(ErrorCode::ProducerFenced)
            }
            Some(meta) => match meta.state {
                // Abort the open transaction under a bumped epoch; the producer retries and
                // then gets the epoch after that.
                TxnState::Ongoing => Step::ending(
                    meta.fence_and_abort(now_ms),
                    Some(Err(ErrorCode::ConcurrentTransactions)),
                ),
                TxnState::PrepareCommit
                | TxnState::PrepareAbort
                | TxnState::PrepareEpochFence
                | TxnState::Dead => return refuse(ErrorCode::ConcurrentTransactions),
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    match meta.bump_epoch(timeout_ms, expected, now_ms) {
                        Ok(Bump::Next(next)) => {
                            let answer = producer_answer(&next);
                            Step::write(next, Some(answer))
                        }
                        Ok(Bump::Rotate) => match fresh_producer_id {
                            Some(producer_id) => {
                                let next = meta.rotate(producer_id, timeout_ms, now_ms);
                                let answer = producer_answer(&next);
                                Step::write(next, Some(answer))
                            }
                            None => return Step::NeedProducerId,
                        },
                        Err(code) => return refuse(code),
                    }
                }
            },
        };
        self.start(step)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets`
    /// partition): the partitions join the producer's transaction, which opens if it was not.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TxnPartition],
        now_ms: i64,
    ) -> Step {
        let meta = match self.active(transactional_id, producer_id, producer_epoch) {
            Ok(meta) => meta,
            Err(code) => return refuse(code),
        };
        match meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                refuse(ErrorCode::ConcurrentTransactions)
            }
            TxnState::Dead => refuse(ErrorCode::InvalidProducerIdMapping),
            TxnState::Ongoing if partitions.iter().all(|p| meta.partitions.contains(p)) => {
                Step::Answer(Ok(Reply::Done))
            }
            _ => {
                let next = meta.add_partitions(partitions.iter().cloned(), now_ms);
                self.start(Step::write(next, Some(Ok(Reply::Done))))
            }
        }
    }

    /// AddPartitionsToTxn v4+ with `verify_only` (KIP-890): whether each partition is part of
    /// the producer's open transaction, changing nothing.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TxnPartition],
    ) -> Result<Vec<(TxnPartition, ErrorCode)>, ErrorCode> {
        let meta = self.active(transactional_id, producer_id, producer_epoch)?;
        Ok(partitions
            .iter()
            .map(|p| {
                let joined = meta.state == TxnState::Ongoing && meta.partitions.contains(p);
                let code = match joined {
                    true => ErrorCode::None,
                    false => ErrorCode::InvalidTxnState,
                };
                (p.clone(), code)
            })
            .collect())
    }

    /// The id's metadata for a request from (`producer_id`, `producer_epoch`): refused with
    /// Kafka's codes for an unknown id, another producer or epoch, a write in flight.
    fn active(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<TxnMetadata, ErrorCode> {
        let meta = self
            .settled(transactional_id)?
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        meta.check_producer(producer_id, producer_epoch)?;
        Ok(meta.clone())
    }

    /// EndTxn: commit or abort the producer's open transaction. A retry of an end that
    /// completed gets the same answer; ending the other way, or ending nothing, is
    /// INVALID_TXN_STATE.
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Step {
        let meta = match self.active(transactional_id, producer_id, producer_epoch) {
            Ok(meta) => meta,
            Err(code) => return refuse(code),
        };
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => {
                let next = meta.prepare_end(commit, now_ms);
                self.start(Step::ending(next, Some(Ok(Reply::Done))))
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Step::Answer(Ok(Reply::Done))
            }
            (TxnState::PrepareCommit, true)
            | (TxnState::PrepareAbort, false)
            | (TxnState::PrepareEpochFence, _) => refuse(ErrorCode::ConcurrentTransactions),
            _ => refuse(ErrorCode::InvalidTxnState),
        }
    }

    /// Every marker of the id's ending transaction is written: it completes.
    pub fn markers_written(&mut self, transactional_id: &str, now_ms: i64) -> Option<Step> {
        let meta = self.ids.get(transactional_id)?;
        if !meta.state.is_preparing() || self.pending.contains(transactional_id) {
            return None;
        }
        let next = meta.complete(now_ms);
        Some(self.start(Step::write(next, None)))
    }

    /// A step's write is committed: its metadata is now the id's.
    pub fn written(&mut self, metadata: TxnMetadata) {
        self.pending.remove(&metadata.transactional_id);
        match metadata.state {
            TxnState::Dead => self.ids.remove(&metadata.transactional_id),
            _ => self.ids.insert(metadata.transactional_id.clone(), metadata),
        };
    }

    /// A step's write failed: the id stays as it was.
    pub fn write_failed(&mut self, transactional_id: &str) {
        self.pending.remove(transactional_id);
    }

    /// The timers' work at `now_ms`: transactions open past their timeout are aborted under a
    /// bumped epoch (fencing their producer), and idle ids unused for
    /// `transactional.id.expiration.ms` are forgotten.
    pub fn on_timer(&mut self, now_ms: i64) -> Vec<Step> {
        let due: Vec<Step> = self
            .ids
            .values()
            .filter(|meta| !self.pending.contains(&meta.transactional_id))
            .filter_map(|meta| match meta.state {
                TxnState::Ongoing if now_ms > meta.start_ms + i64::from(meta.timeout_ms) => {
                    Some(Step::ending(meta.fence_and_abort(now_ms), None))
                }
                state
                    if state.is_idle()
                        && now_ms > meta.last_update_ms + self.config.expiration_ms =>
                {
                    Some(Step::write(meta.dead(), None))
                }
                _ => None,
            })
            .collect();
        due.into_iter().map(|step| self.start(step)).collect()
    }

    /// Replays one record of the partition (a load after becoming its leader); `value` is
    /// `None` for a tombstone. Records that do not parse are skipped.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>) {
        let Some(id) = log_format::decode_key(key) else {
            return;
        };
        match value.and_then(|v| log_format::decode_value(&id, v)) {
            Some(meta) => {
                self.ids.insert(id, meta);
            }
            None if value.is_none() => {
                self.ids.remove(&id);
            }
            None => {}
        }
    }

    /// Transactions a previous coordinator decided to end but may not have finished: their
    /// markers are written again after a load (markers are idempotent at the partitions).
    pub fn unfinished(&self) -> Vec<Markers> {
        self.ids
            .values()
            .filter(|meta| meta.state.is_preparing())
            .map(Markers::of)
            .collect()
    }
}

fn producer_answer(meta: &TxnMetadata) -> Answer {
    Ok(Reply::Producer {
        producer_id: meta.producer_id,
        producer_epoch: meta.producer_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "tx-1";

    fn tp(topic: &str, partition: i32) -> TxnPartition {
        TxnPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Performs a write step as a shell whose writes all succeed: returns its answer and
    /// markers.
    fn perform(c: &mut TxnCoordinator, step: Step) -> (Option<Answer>, Option<Markers>) {
        match step {
            Step::Answer(answer) => (Some(answer), None),
            Step::NeedProducerId => panic!("needs a producer id"),
            Step::Write {
                metadata,
                answer,
                markers,
            } => {
                c.written(metadata);
                (answer, markers)
            }
        }
    }

    /// A coordinator with `ID` initialised: producer 1000, epoch 0.
    fn initialised() -> TxnCoordinator {
        let mut c = TxnCoordinator::new(TxnConfig::default());
        assert_eq!(
            c.init_producer_id(ID, 60_000, None, 0, None),
            Step::NeedProducerId
        );
        let step = c.init_producer_id(ID, 60_000, None, 0, Some(1000));
        let (answer, _) = perform(&mut c, step);
        assert_eq!(
            answer,
            Some(Ok(Reply::Producer {
                producer_id: 1000,
                producer_epoch: 0
            }))
        );
        c
    }

    #[test]
    fn a_transaction_commits_through_its_markers() {
        let mut c = initialised();
        let step = c.add_partitions(ID, 1000, 0, &[tp("a", 0), tp("a", 1)], 10);
        assert_eq!(perform(&mut c, step).0, Some(Ok(Reply::Done)));
        // Adding a partition it has changes nothing.
        assert_eq!(
            c.add_partitions(ID, 1000, 0, &[tp("a", 1)], 11),
            Step::Answer(Ok(Reply::Done))
        );
        let step = c.end_txn(ID, 1000, 0, true, 20);
        let (answer, markers) = perform(&mut c, step);
        assert_eq!(answer, Some(Ok(Reply::Done)));
        let markers = markers.expect("markers");
        assert!(markers.commit);
        assert_eq!(markers.partitions, vec![tp("a", 0), tp("a", 1)]);
        assert_eq!(c.get(ID).unwrap().state, TxnState::PrepareCommit);
        // A retry while the markers are written.
        assert_eq!(
            c.end_txn(ID, 1000, 0, true, 21),
            Step::Answer(Err(ErrorCode::ConcurrentTransactions))
        );
        let step = c.markers_written(ID, 30).expect("complete");
        perform(&mut c, step);
        assert_eq!(c.get(ID).unwrap().state, TxnState::CompleteCommit);
        assert_eq!(
            c.end_txn(ID, 1000, 0, true, 31),
            Step::Answer(Ok(Reply::Done))
        );
        assert_eq!(
            c.end_txn(ID, 1000, 0, false, 31),
            Step::Answer(Err(ErrorCode::InvalidTxnState))
        );
    }

    #[test]
    fn ending_nothing_is_an_invalid_state() {
        let mut c = initialised();
        assert_eq!(
            c.end_txn(ID, 1000, 0, true, 1),
            Step::Answer(Err(ErrorCode::InvalidTxnState))
        );
    }

    #[test]
    fn a_write_in_flight_holds_off_other_transitions() {
        let mut c = initialised();
        let step = c.add_partitions(ID, 1000, 0, &[tp("a", 0)], 10);
        assert!(matches!(step, Step::Write { .. }));
        assert_eq!(
            c.end_txn(ID, 1000, 0, true, 11),
            Step::Answer(Err(ErrorCode::ConcurrentTransactions))
        );
        assert_eq!(
            c.init_producer_id(ID, 60_000, None, 11, None),
            Step::Answer(Err(ErrorCode::ConcurrentTransactions))
        );
        c.write_failed(ID);
        assert_eq!(c.get(ID).unwrap().state, TxnState::Empty, "unchanged");
        assert!(matches!(
            c.add_partitions(ID, 1000, 0, &[tp("a", 0)], 12),
            Step::Write { .. }
        ));
    }

    #[test]
    fn a_second_producer_of_the_id_fences_the_first_and_aborts_its_transaction() {
        let mut c = initialised();
        let step = c.add_partitions(ID, 1000, 0, &[tp("a", 0)], 10);
        perform(&mut c, step);
        // The new producer's InitProducerId aborts the open transaction under epoch 1 ...
        let step = c.init_producer_id(ID, 60_000, None, 20, None);
        let (answer, markers) = perform(&mut c, step);
        assert_eq!(answer, Some(Err(ErrorCode::ConcurrentTransactions)));
        let markers = markers.expect("abort markers");
        assert!(!markers.commit);
        assert_eq!(markers.producer_epoch, 1);
        let step = c.markers_written(ID, 30).unwrap();
        perform(&mut c, step);
        // ... and its retry gets epoch 2.
        let step = c.init_producer_id(ID, 60_000, None, 31, None);
        assert_eq!(
            perform(&mut c, step).0,
            Some(Ok(Reply::Producer {
                producer_id: 1000,
                producer_epoch: 2
            }))
        );
        // The old producer is fenced wherever it turns.
        for step in [
            c.add_partitions(ID, 1000, 0, &[tp("a", 0)], 32),
            c.end_txn(ID, 1000, 0, true, 32),
        ] {
            assert_eq!(step, Step::Answer(Err(ErrorCode::ProducerFenced)));
        }
        assert_eq!(
            c.add_partitions(ID, 999, 2, &[tp("a", 0)], 32),
            Step::Answer(Err(ErrorCode::InvalidProducerIdMapping))
        );
    }

    #[test]
    fn timeouts_abort_open_transactions_and_idle_ids_expire() {
        let mut c = TxnCoordinator::new(TxnConfig {
            max_timeout_ms: 60_000,
            expiration_ms: 1_000_000,
        });
        assert_eq!(
            c.init_producer_id(ID, 60_001, None, 0, Some(1)),
            Step::Answer(Err(ErrorCode::InvalidTransactionTimeout))
        );
        let step = c.init_producer_id(ID, 5_000, None, 0, Some(1));
        perform(&mut c, step);
        let step = c.add_partitions(ID, 1, 0, &[tp("a", 0)], 100);
        perform(&mut c, step);
        assert!(c.on_timer(5_100).is_empty(), "not past its timeout yet");
        let mut due = c.on_timer(5_101);
        assert_eq!(due.len(), 1);
        let (answer, markers) = perform(&mut c, due.remove(0));
        assert_eq!(answer, None);
        let markers = markers.unwrap();
        assert!(!markers.commit);
        assert_eq!(markers.producer_epoch, 1, "the producer is fenced");
        let step = c.markers_written(ID, 5_200).unwrap();
        perform(&mut c, step);
        assert_eq!(
            c.end_txn(ID, 1, 0, true, 5_300),
            Step::Answer(Err(ErrorCode::ProducerFenced))
        );
        assert!(c.on_timer(1_005_200).is_empty());
        let mut due = c.on_timer(1_005_201);
        let Step::Write { metadata, .. } = due.remove(0) else {
            panic!("a tombstone write");
        };
        assert_eq!(metadata.state, TxnState::Dead);
        c.written(metadata);
        assert!(c.get(ID).is_none());
    }

    #[test]
    fn a_loaded_partition_resumes_and_finishes_what_was_decided() {
        let mut c = initialised();
        let step = c.add_partitions(ID, 1000, 0, &[tp("a", 0)], 10);
        perform(&mut c, step);
        let Step::Write { metadata, .. } = c.end_txn(ID, 1000, 0, false, 20) else {
            panic!("a write");
        };
        // The log holds every write; a new leader replays it.
        let mut loaded = TxnCoordinator::new(TxnConfig::default());
        let other = TxnMetadata::new("gone", 5, 1000, 0);
        loaded.replay(
            &log_format::encode_key("gone"),
            Some(&log_format::encode_value(&other)),
        );
        loaded.replay(&log_format::encode_key("gone"), None);
        loaded.replay(
            &log_format::encode_key(ID),
            Some(&log_format::encode_value(&metadata)),
        );
        loaded.replay(b"garbage", Some(b"garbage"));
        assert!(loaded.get("gone").is_none());
        assert_eq!(loaded.get(ID).unwrap().state, TxnState::PrepareAbort);
        let unfinished = loaded.unfinished();
        assert_eq!(unfinished.len(), 1);
        assert!(!unfinished[0].commit);
        assert_eq!(unfinished[0].partitions, vec![tp("a", 0)]);
    }

    #[test]
    fn verify_only_reports_each_partition() {
        let mut c = initialised();
        let step = c.add_partitions(ID, 1000, 0, &[tp("a", 0)], 10);
        perform(&mut c, step);
        assert_eq!(
            c.verify_partitions(ID, 1000, 0, &[tp("a", 0), tp("a", 1)]),
            Ok(vec![
                (tp("a", 0), ErrorCode::None),
                (tp("a", 1), ErrorCode::InvalidTxnState)
            ])
        );
        assert_eq!(
            c.verify_partitions(ID, 1000, 1, &[tp("a", 0)]),
            Err(ErrorCode::ProducerFenced)
        );
    }
}
