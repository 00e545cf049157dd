//! Idempotent producers (KIP-98): per producer id, the epoch and the last five batches'
//! sequence ranges, as Kafka's ProducerStateManager keeps them. A retried batch already in the
//! log is answered with its original offsets and not appended again; a gap in the sequence is
//! OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is fenced (INVALID_PRODUCER_EPOCH).

use std::collections::{HashMap, VecDeque};

use super::transactions::{AbortedTxn, MarkerOutcome, OpenTransactions};
use crate::error_code::ErrorCode;
use crate::record::{RecordBatch, TxnMarker};

/// Kafka keeps the metadata of the last 5 batches per producer (max.in.flight of an idempotent
/// producer is at most 5).
const BATCHES_KEPT: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequencedBatch {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<SequencedBatch>,
}

/// What to do with an incoming batch of an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    Append,
    /// Already in the log: answer with these offsets.
    Duplicate(SequencedBatch),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("producer {producer_id}: epoch {epoch} is older than the current {current}")]
    Fenced {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error("producer {producer_id} is not known to this partition")]
    UnknownProducer { producer_id: i64 },
    #[error("producer {producer_id}: sequence {got} where {expected} was expected")]
    OutOfOrder {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
}

impl SequenceError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            SequenceError::Fenced { .. } => ErrorCode::InvalidProducerEpoch,
            SequenceError::OutOfOrder { .. } => ErrorCode::OutOfOrderSequenceNumber,
            SequenceError::UnknownProducer { .. } => ErrorCode::UnknownProducerId,
        }
    }
}

/// The sequence number of a batch's last record (sequences wrap after i32::MAX, as in Kafka).
pub fn last_sequence(batch: &RecordBatch) -> i32 {
    let last = i64::from(batch.base_sequence()) + i64::from(batch.last_offset_delta());
    if last > i64::from(i32::MAX) {
        (last - i64::from(i32::MAX) - 1) as i32
    } else {
        last as i32
    }
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// Each producer's sequences and epoch, and the transactions open in the partition (Kafka's
/// ProducerStateManager keeps both: `currentTxnFirstOffset` is part of a producer's entry).
#[derive(Debug, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    txns: OpenTransactions,
}

impl ProducerStates {
    /// Checks a batch (`first_seq`..=`last_seq` of `producer_id` at `epoch`) against what the
    /// log holds.
    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    ) -> Result<SequenceCheck, SequenceError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            // A producer this partition has not seen starts at sequence 0; otherwise its state
            // is gone (its batches aged out of the active segment): UNKNOWN_PRODUCER_ID makes
            // the client reset its sequence, as with Kafka.
            return if first_seq == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::UnknownProducer { producer_id })
            };
        };
        if epoch < entry.epoch {
            return Err(SequenceError::Fenced {
                producer_id,
                epoch,
                current: entry.epoch,
            });
        }
        if epoch > entry.epoch {
            // A new epoch (the producer was re-initialised) starts over at 0.
            return if first_seq == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrder {
                    producer_id,
                    expected: 0,
                    got: first_seq,
                })
            };
        }
        if let Some(duplicate) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate(*duplicate));
        }
        let expected = entry.batches.back().map_or(0, |b| next_seq(b.last_seq));
        if first_seq != expected {
            return Err(SequenceError::OutOfOrder {
                producer_id,
                expected,
                got: first_seq,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records a batch as the log stores it (offsets assigned), on every path that stores one:
    /// a leader's append, a follower's, recovery's scan. A transactional batch opens (or
    /// continues) its producer's transaction; a commit or abort marker closes it, and an abort
    /// returns the entry for the segment's transaction index.
    pub fn record_stored(&mut self, batch: &RecordBatch) -> Option<AbortedTxn> {
        self.record_at(batch, batch.base_offset())
    }

    /// [`ProducerStates::record_stored`] for a batch the log placed at `base_offset` (a
    /// leader's append, whose batch view still has the client's base offset 0).
    pub fn record_at(&mut self, batch: &RecordBatch, base_offset: i64) -> Option<AbortedTxn> {
        if batch.producer_id() < 0 {
            return None;
        }
        if batch.attributes().is_control() {
            return self.record_marker(batch, base_offset);
        }
        self.record(
            batch.producer_id(),
            batch.producer_epoch(),
            SequencedBatch {
                first_seq: batch.base_sequence(),
                last_seq: last_sequence(batch),
                base_offset,
                last_offset: base_offset + i64::from(batch.last_offset_delta()),
            },
        );
        if batch.attributes().is_transactional() {
            self.txns
                .on_transactional_batch(batch.producer_id(), base_offset);
        }
        None
    }

    /// A control batch: Kafka's `appendEndTxnMarker`. The marker's epoch becomes the
    /// producer's (a coordinator that fenced the producer bumped it: the old epoch's batches
    /// are refused from now on); its transaction here ends. Control records of other types
    /// change nothing.
    fn record_marker(&mut self, batch: &RecordBatch, offset: i64) -> Option<AbortedTxn> {
        let marker = TxnMarker::from_batch(batch)?;
        let entry = self.producers.entry(marker.producer_id).or_default();
        if marker.producer_epoch != entry.epoch {
            entry.batches.clear();
            entry.epoch = marker.producer_epoch;
        }
        match self
            .txns
            .on_marker(marker.producer_id, offset, marker.commit)
        {
            MarkerOutcome::Closed(aborted) => aborted,
            MarkerOutcome::NothingOpen => None,
        }
    }

    /// Whether a marker of `producer_id` at `epoch` may be written (WriteTxnMarkers): not
    /// with an epoch older than the producer's here (INVALID_PRODUCER_EPOCH, as Kafka's
    /// `checkProducerEpoch`).
    pub fn check_marker_epoch(&self, producer_id: i64, epoch: i16) -> Result<(), SequenceError> {
        match self.producers.get(&producer_id) {
            Some(entry) if epoch < entry.epoch => Err(SequenceError::Fenced {
                producer_id,
                epoch,
                current: entry.epoch,
            }),
            _ => Ok(()),
        }
    }

    #[cfg(test)]
    fn opened_before_for_tests(&self) -> Vec<(i64, i64)> {
        self.txns.opened_before(i64::MAX)
    }

    /// Kafka's last stable offset: the first offset of the oldest open transaction, or the
    /// high watermark.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.txns.last_stable_offset(high_watermark)
    }

    /// The log was cut to end at `log_end`: the batches at or past it are no longer in the
    /// log, so a retry of one must not be answered as a duplicate at offsets that now hold
    /// other records. A producer left with no batch is forgotten; its next batch then gets
    /// UNKNOWN_PRODUCER_ID (sequence 0 starts afresh), and the client bumps its epoch
    /// (KIP-360). Kafka rebuilds the state from a snapshot below the cut instead; what is
    /// kept here is the same for the batches that remain.
    pub fn truncate_from(&mut self, log_end: i64) {
        self.producers.retain(|_, entry| {
            entry.batches.retain(|b| b.last_offset < log_end);
            !entry.batches.is_empty()
        });
        self.txns.truncate_from(log_end);
    }

    /// The log was emptied.
    pub fn clear(&mut self) {
        self.producers.clear();
        self.txns = OpenTransactions::default();
    }

    /// Records an appended batch.
    pub fn record(&mut self, producer_id: i64, epoch: i16, batch: SequencedBatch) {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.batches.clear();
            entry.epoch = epoch;
        }
        entry.batches.push_back(batch);
        while entry.batches.len() > BATCHES_KEPT {
            entry.batches.pop_front();
        }
    }
}

/// Snapshot format versions (`<offset>.snapshot`, Weir's own layout, not Kafka's): 2 adds the
/// open transactions; 1 (before transactions) is still read.
const SNAPSHOT_VERSION: u16 = 2;
const SNAPSHOT_VERSION_WITHOUT_TXNS: u16 = 1;

impl ProducerStates {
    /// The state as of `offset` (batches at or after it left out), for a snapshot taken when
    /// the segment ending there is sealed. Layout, big-endian: version u16, producer count u32,
    /// then per producer id i64, epoch i16, batch count u8 and per batch first/last sequence i32
    /// and base/last offset i64; then the open transactions that began before `offset`: count
    /// u32 and per transaction producer id i64 and first offset i64; a CRC-32C of everything
    /// before it ends the file.
    pub fn snapshot_before(&self, offset: i64) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        let entries: Vec<(i64, i16, Vec<SequencedBatch>)> = self
            .producers
            .iter()
            .map(|(id, entry)| {
                let batches = entry
                    .batches
                    .iter()
                    .filter(|b| b.last_offset < offset)
                    .copied()
                    .collect();
                (*id, entry.epoch, batches)
            })
            .collect();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for (id, epoch, batches) in entries {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&epoch.to_be_bytes());
            out.push(batches.len() as u8);
            for b in batches {
                out.extend_from_slice(&b.first_seq.to_be_bytes());
                out.extend_from_slice(&b.last_seq.to_be_bytes());
                out.extend_from_slice(&b.base_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
        let open = self.txns.opened_before(offset);
        out.extend_from_slice(&(open.len() as u32).to_be_bytes());
        for (producer_id, first_offset) in open {
            out.extend_from_slice(&producer_id.to_be_bytes());
            out.extend_from_slice(&first_offset.to_be_bytes());
        }
        let crc = crate::checksum::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads a snapshot; `None` when it is damaged (the state is then rebuilt without it).
    pub fn from_snapshot(bytes: &[u8]) -> Option<Self> {
        let body_len = bytes.len().checked_sub(4)?;
        let (body, crc) = bytes.split_at(body_len);
        if crate::checksum::crc32c(body).to_be_bytes() != crc {
            return None;
        }
        let mut reader = Reader(body);
        let version = reader.u16()?;
        if version != SNAPSHOT_VERSION && version != SNAPSHOT_VERSION_WITHOUT_TXNS {
            return None;
        }
        let mut states = ProducerStates::default();
        for _ in 0..reader.u32()? {
            let id = reader.i64()?;
            let epoch = reader.u16()? as i16;
            let mut entry = ProducerEntry {
                epoch,
                batches: VecDeque::new(),
            };
            for _ in 0..reader.u8()? {
                entry.batches.push_back(SequencedBatch {
                    first_seq: reader.u32()? as i32,
                    last_seq: reader.u32()? as i32,
                    base_offset: reader.i64()?,
                    last_offset: reader.i64()?,
                });
            }
            states.producers.insert(id, entry);
        }
        if version == SNAPSHOT_VERSION {
            for _ in 0..reader.u32()? {
                let producer_id = reader.i64()?;
                let first_offset = reader.i64()?;
                states
                    .txns
                    .on_transactional_batch(producer_id, first_offset);
            }
        }
        reader.0.is_empty().then_some(states)
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_log_forgets_the_batches_past_the_cut() {
        let mut states = ProducerStates::default();
        let batch = |first_seq, base_offset| SequencedBatch {
            first_seq,
            last_seq: first_seq + 9,
            base_offset,
            last_offset: base_offset + 9,
        };
        states.record(7, 0, batch(0, 100));
        states.record(7, 0, batch(10, 110));
        states.record(8, 0, batch(0, 120));
        states.truncate_from(110);
        // The retry of the cut batch is appended again, not answered with offsets 110..119.
        assert_eq!(states.check(7, 0, 10, 19), Ok(SequenceCheck::Append));
        assert_eq!(
            states.check(7, 0, 0, 9),
            Ok(SequenceCheck::Duplicate(batch(0, 100)))
        );
        // Producer 8 had only cut batches: unknown again.
        assert_eq!(
            states.check(8, 0, 10, 19),
            Err(SequenceError::UnknownProducer { producer_id: 8 })
        );
    }

    #[test]
    fn snapshots_round_trip_up_to_their_offset_and_damage_is_refused() {
        let mut states = ProducerStates::default();
        states.record(7, 2, batch(0, 9, 100));
        states.record(7, 2, batch(10, 19, 110));
        states.record(9, 0, batch(0, 4, 120));
        let bytes = states.snapshot_before(115);
        let back = ProducerStates::from_snapshot(&bytes).unwrap();
        // The batch at 110..119 is at or after the snapshot offset: not in it.
        assert_eq!(
            back.check(7, 2, 0, 9),
            Ok(SequenceCheck::Duplicate(batch(0, 9, 100)))
        );
        assert_eq!(back.check(7, 2, 10, 19), Ok(SequenceCheck::Append));
        assert_eq!(
            back.check(7, 1, 20, 29).unwrap_err().error_code(),
            ErrorCode::InvalidProducerEpoch
        );
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x40;
            assert!(
                ProducerStates::from_snapshot(&damaged).is_none(),
                "byte {i}"
            );
        }
        assert!(ProducerStates::from_snapshot(&bytes[..bytes.len() - 1]).is_none());
    }

    fn batch(first_seq: i32, last_seq: i32, base_offset: i64) -> SequencedBatch {
        SequencedBatch {
            first_seq,
            last_seq,
            base_offset,
            last_offset: base_offset + i64::from(last_seq - first_seq),
        }
    }

    #[test]
    fn duplicates_gaps_and_fencing() {
        let mut states = ProducerStates::default();
        assert_eq!(states.check(7, 0, 0, 9), Ok(SequenceCheck::Append));
        states.record(7, 0, batch(0, 9, 100));
        assert_eq!(states.check(7, 0, 10, 19), Ok(SequenceCheck::Append));
        states.record(7, 0, batch(10, 19, 110));
        // A retry of the first batch: its original offsets.
        assert_eq!(
            states.check(7, 0, 0, 9),
            Ok(SequenceCheck::Duplicate(batch(0, 9, 100)))
        );
        // A gap.
        assert!(matches!(
            states.check(7, 0, 25, 30),
            Err(SequenceError::OutOfOrder {
                expected: 20,
                got: 25,
                ..
            })
        ));
        // An older epoch is fenced; a newer one starts at 0.
        states.record(7, 1, batch(0, 0, 120));
        assert!(matches!(
            states.check(7, 0, 20, 20),
            Err(SequenceError::Fenced { .. })
        ));
        assert!(states.check(7, 2, 5, 5).is_err());
        assert_eq!(states.check(7, 2, 0, 0), Ok(SequenceCheck::Append));
        // Unknown producers start at 0.
        assert!(states.check(8, 0, 3, 3).is_err());
    }

    /// A stored batch of producer `id` at `epoch` from offset `base`, transactional or a marker.
    fn stored(id: i64, epoch: i16, base: i64, kind: Stored) -> RecordBatch {
        use crate::record::{BatchBuilder, NewRecord, TRANSACTIONAL_FLAG};
        let bytes = match kind {
            Stored::Data => {
                let mut builder = BatchBuilder::new();
                builder
                    .push(NewRecord {
                        key: Some(b"k"),
                        value: Some(b"v"),
                        timestamp_ms: 1,
                    })
                    .producer(id, epoch, 0)
                    .flags(TRANSACTIONAL_FLAG);
                builder.build()
            }
            Stored::Marker { commit } => TxnMarker {
                producer_id: id,
                producer_epoch: epoch,
                commit,
                coordinator_epoch: 0,
            }
            .to_batch(1),
        };
        let mut raw = bytes::BytesMut::from(&bytes[..]);
        raw[..8].copy_from_slice(&base.to_be_bytes());
        RecordBatch::new(raw.freeze()).unwrap()
    }

    enum Stored {
        Data,
        Marker { commit: bool },
    }

    #[test]
    fn markers_close_transactions_bump_epochs_and_index_aborts() {
        let mut states = ProducerStates::default();
        assert_eq!(states.record_stored(&stored(7, 0, 10, Stored::Data)), None);
        assert_eq!(states.record_stored(&stored(8, 0, 11, Stored::Data)), None);
        assert_eq!(states.last_stable_offset(100), 10);
        // A commit leaves no index entry; the LSO moves to producer 8's transaction.
        let commit = Stored::Marker { commit: true };
        assert_eq!(states.record_stored(&stored(7, 0, 12, commit)), None);
        assert_eq!(states.last_stable_offset(100), 11);
        // An abort under a bumped epoch (the coordinator fenced producer 8) indexes it and
        // fences the old epoch.
        let abort = Stored::Marker { commit: false };
        assert_eq!(
            states.record_stored(&stored(8, 1, 13, abort)),
            Some(AbortedTxn {
                producer_id: 8,
                first_offset: 11,
                last_offset: 13,
                last_stable_offset: 14,
            })
        );
        assert_eq!(states.last_stable_offset(100), 100);
        assert!(matches!(
            states.check(8, 0, 1, 1),
            Err(SequenceError::Fenced { .. })
        ));
        assert!(states.check_marker_epoch(8, 0).is_err());
        assert!(states.check_marker_epoch(8, 1).is_ok());
    }

    #[test]
    fn snapshots_keep_the_transactions_open_before_their_offset() {
        let mut states = ProducerStates::default();
        states.record_stored(&stored(7, 0, 10, Stored::Data));
        states.record_stored(&stored(8, 0, 20, Stored::Data));
        let back = ProducerStates::from_snapshot(&states.snapshot_before(15)).unwrap();
        // Producer 8's transaction began at 20, past the snapshot: a scan from 15 finds it.
        assert_eq!(back.last_stable_offset(100), 10);
        assert_eq!(back.opened_before_for_tests(), vec![(7, 10)]);
        // A version-1 snapshot (before transactions) still reads, with none open.
        let mut v1 = ProducerStates::default();
        v1.record(9, 0, batch(0, 0, 5));
        let mut bytes = v1.snapshot_before(100);
        bytes.truncate(bytes.len() - 8); // the CRC and the empty transaction count
        bytes[0..2].copy_from_slice(&SNAPSHOT_VERSION_WITHOUT_TXNS.to_be_bytes());
        let crc = crate::checksum::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        let old = ProducerStates::from_snapshot(&bytes).unwrap();
        assert_eq!(old.last_stable_offset(100), 100);
        assert!(matches!(
            old.check(9, 0, 0, 0),
            Ok(SequenceCheck::Duplicate(_))
        ));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut states = ProducerStates::default();
        for i in 0..7 {
            states.record(1, 0, batch(i, i, i64::from(i)));
        }
        assert!(matches!(
            states.check(1, 0, 6, 6),
            Ok(SequenceCheck::Duplicate(_))
        ));
        assert!(matches!(
            states.check(1, 0, 2, 2),
            Ok(SequenceCheck::Duplicate(_))
        ));
        assert!(states.check(1, 0, 1, 1).is_err(), "too old to recognise");
        assert_eq!(states.check(1, 0, 7, 7), Ok(SequenceCheck::Append));
    }
}
