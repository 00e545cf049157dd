//! A partition's view of transactions (issue 18), apart from I/O: which producers have a
//! transaction open here and from which offset, the last stable offset (LSO) that
//! `read_committed` consumers read up to, and the aborted transactions Kafka lists per segment
//! in its transaction index (`.txnindex`), in that file's entry format.
//!
//! A transactional batch opens its producer's transaction at its first offset (or continues
//! it); the coordinator's control batch (a commit or abort marker) closes it. An aborted
//! transaction becomes an index entry (producer, first offset, the marker's offset, and the
//! LSO when it was aborted); a read_committed Fetch returns the entries overlapping the
//! records it returns, and the consumer drops their records.
//!

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

/// Kafka's `.txnindex` entry: version (i16, 0), producer id, first offset, last offset, last
/// stable offset: 34 bytes.
pub const TXN_INDEX_ENTRY_BYTES: usize = 34;
const TXN_INDEX_VERSION: i16 = 0;

/// An aborted transaction, as a `.txnindex` entry and as Fetch's `aborted_transactions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    /// The offset of the transaction's first batch in this partition.
    pub first_offset: i64,
    /// The offset of its abort marker.
    pub last_offset: i64,
    /// The partition's LSO when it was aborted.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.put_i16(TXN_INDEX_VERSION);
        buf.put_i64(self.producer_id);
        buf.put_i64(self.first_offset);
        buf.put_i64(self.last_offset);
        buf.put_i64(self.last_stable_offset);
    }

    /// The entries of a `.txnindex` file; `None` when one is short or of an unknown version
    /// (the index is then rebuilt from the segment, as Kafka rebuilds a bad index).
    pub fn decode_all(bytes: &[u8]) -> Option<Vec<AbortedTxn>> {
        if !bytes.len().is_multiple_of(TXN_INDEX_ENTRY_BYTES) {
            return None;
        }
        bytes
            .chunks_exact(TXN_INDEX_ENTRY_BYTES)
            .map(|entry| {
                let i64_at = |at: usize| {
                    let mut raw = [0u8; 8];
                    raw.copy_from_slice(&entry[at..at + 8]);
                    i64::from_be_bytes(raw)
                };
                (i16::from_be_bytes([entry[0], entry[1]]) == TXN_INDEX_VERSION).then(|| {
                    AbortedTxn {
                        producer_id: i64_at(2),
                        first_offset: i64_at(10),
                        last_offset: i64_at(18),
                        last_stable_offset: i64_at(26),
                    }
                })
            })
            .collect()
    }

    pub fn encode_all(entries: &[AbortedTxn]) -> Bytes {
        let mut buf = BytesMut::with_capacity(entries.len() * TXN_INDEX_ENTRY_BYTES);
        for entry in entries {
            entry.encode(&mut buf);
        }
        buf.freeze()
    }
}

/// What a marker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerOutcome {
    /// It closed the producer's open transaction; an abort yields the index entry.
    Closed(Option<AbortedTxn>),
    /// The producer had no transaction open here (a retried marker, or one for a partition
    /// the transaction never wrote to): nothing changes.
    NothingOpen,
}

/// The transactions open in one partition.
#[derive(Debug, Default, Clone)]
pub struct OpenTransactions {
    /// Producer id → the first offset of its open transaction here.
    first_offsets: BTreeMap<i64, i64>,
}

impl OpenTransactions {
    /// A transactional batch of `producer_id` starting at `offset` was appended.
    pub fn on_transactional_batch(&mut self, producer_id: i64, offset: i64) {
        self.first_offsets.entry(producer_id).or_insert(offset);
    }

    /// A commit or abort marker of `producer_id` was appended at `marker_offset`. An abort's
    /// index entry carries the LSO once this transaction is done (Kafka's
    /// `lastStableOffset(completedTxn)`): the first offset of the oldest transaction still
    /// open, or the offset after the marker.
    pub fn on_marker(
        &mut self,
        producer_id: i64,
        marker_offset: i64,
        commit: bool,
    ) -> MarkerOutcome {
        let Some(first_offset) = self.first_offsets.remove(&producer_id) else {
            return MarkerOutcome::NothingOpen;
        };
        MarkerOutcome::Closed((!commit).then(|| AbortedTxn {
            producer_id,
            first_offset,
            last_offset: marker_offset,
            last_stable_offset: self.last_stable_offset(marker_offset + 1),
        }))
    }

    /// Whether `producer_id` has a transaction open here.
    pub fn is_open(&self, producer_id: i64) -> bool {
        self.first_offsets.contains_key(&producer_id)
    }

    /// The open transactions that began before `offset`, as (producer id, first offset): what
    /// a producer snapshot taken there keeps.
    pub fn opened_before(&self, offset: i64) -> Vec<(i64, i64)> {
        self.first_offsets
            .iter()
            .filter(|(_, first)| **first < offset)
            .map(|(id, first)| (*id, *first))
            .collect()
    }

    /// The first offset no read_committed consumer may read yet: the oldest open
    /// transaction's first offset, or the high watermark (Kafka's last stable offset).
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.first_offsets
            .values()
            .copied()
            .min()
            .map_or(high_watermark, |first| first.min(high_watermark))
    }

    /// The log was cut to end at `log_end`: transactions that began at or past it are gone.
    /// (One that began before it and whose marker was cut reopens only through a rebuild from
    /// the log, which is what recovery does.)
    pub fn truncate_from(&mut self, log_end: i64) {
        self.first_offsets.retain(|_, first| *first < log_end);
    }

    pub fn is_empty(&self) -> bool {
        self.first_offsets.is_empty()
    }
}

/// The aborted transactions a read_committed Fetch of `from..to` returns: those whose range
/// overlaps it (Kafka's `collectAbortedTxns`: last offset at or after `from`, first offset
/// before `to`).
pub fn aborted_overlapping(aborted: &[AbortedTxn], from: i64, to: i64) -> Vec<AbortedTxn> {
    aborted
        .iter()
        .filter(|a| a.last_offset >= from && a.first_offset < to)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_entries_have_kafkas_34_byte_layout_and_round_trip() {
        let entry = AbortedTxn {
            producer_id: 4001,
            first_offset: 10,
            last_offset: 25,
            last_stable_offset: 8,
        };
        let bytes = AbortedTxn::encode_all(&[entry, entry]);
        assert_eq!(bytes.len(), 2 * TXN_INDEX_ENTRY_BYTES);
        assert_eq!(&bytes[..2], &[0, 0], "version 0");
        assert_eq!(&bytes[2..10], &4001i64.to_be_bytes());
        assert_eq!(&bytes[26..34], &8i64.to_be_bytes());
        assert_eq!(AbortedTxn::decode_all(&bytes), Some(vec![entry, entry]));
        assert_eq!(AbortedTxn::decode_all(&bytes[..33]), None, "short");
        let mut unknown = bytes.to_vec();
        unknown[1] = 1;
        assert_eq!(AbortedTxn::decode_all(&unknown), None, "unknown version");
    }

    #[test]
    fn the_lso_waits_for_the_oldest_open_transaction() {
        let mut open = OpenTransactions::default();
        assert_eq!(open.last_stable_offset(100), 100);
        open.on_transactional_batch(7, 40);
        open.on_transactional_batch(8, 55);
        open.on_transactional_batch(7, 60); // still the transaction that began at 40
        assert_eq!(open.last_stable_offset(100), 40);
        assert_eq!(
            open.last_stable_offset(30),
            30,
            "never past the high watermark"
        );
        assert_eq!(
            open.on_marker(7, 70, true),
            MarkerOutcome::Closed(None),
            "a commit leaves no index entry"
        );
        assert_eq!(open.last_stable_offset(100), 55);
        assert_eq!(
            open.on_marker(8, 71, false),
            MarkerOutcome::Closed(Some(AbortedTxn {
                producer_id: 8,
                first_offset: 55,
                last_offset: 71,
                // Nothing else open: the LSO is past the marker.
                last_stable_offset: 72
            }))
        );
        assert!(open.is_empty());
        assert_eq!(open.on_marker(8, 72, false), MarkerOutcome::NothingOpen);
    }

    #[test]
    fn a_cut_forgets_transactions_that_began_past_it() {
        let mut open = OpenTransactions::default();
        open.on_transactional_batch(7, 10);
        open.on_transactional_batch(8, 20);
        open.truncate_from(20);
        assert_eq!(open.last_stable_offset(100), 10);
        open.on_marker(7, 30, true);
        assert!(open.is_empty());
    }

    #[test]
    fn a_read_committed_fetch_gets_the_aborted_transactions_it_overlaps() {
        let aborted = |first, last| AbortedTxn {
            producer_id: 1,
            first_offset: first,
            last_offset: last,
            last_stable_offset: first,
        };
        let index = [aborted(0, 5), aborted(8, 12), aborted(20, 30)];
        assert_eq!(
            aborted_overlapping(&index, 6, 21),
            vec![aborted(8, 12), aborted(20, 30)]
        );
        assert_eq!(aborted_overlapping(&index, 13, 20), vec![]);
        assert_eq!(aborted_overlapping(&index, 5, 6), vec![aborted(0, 5)]);
    }
}
