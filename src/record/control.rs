//! Transaction markers (issue 18): the control batches a transaction coordinator has written
//! to every partition of a transaction when it commits or aborts (WriteTxnMarkers). Kafka's
//! format: a batch with the transactional and control attribute bits, the producer's id and
//! epoch, base sequence -1, and one record whose key is `ControlRecordType` (version 0, type:
//! 0 abort, 1 commit) and whose value is `EndTxnMarker` (version 0, coordinator epoch).

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::RecordBatch;
use super::builder::{BatchBuilder, NewRecord, CONTROL_FLAG, TRANSACTIONAL_FLAG};

/// A commit or abort marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    /// The epoch of the coordinator that wrote it (its `__transaction_state` partition's
    /// leader epoch): a marker from an older coordinator is refused.
    pub coordinator_epoch: i32,
}

const CONTROL_KEY_VERSION: i16 = 0;
const ABORT: i16 = 0;
const COMMIT: i16 = 1;
const END_TXN_MARKER_VERSION: i16 = 0;

impl TxnMarker {
    /// The marker as a control batch (base offset 0: the log assigns it).
    pub fn to_batch(&self, timestamp_ms: i64) -> Bytes {
        let mut key = BytesMut::with_capacity(4);
        key.put_i16(CONTROL_KEY_VERSION);
        key.put_i16(if self.commit { COMMIT } else { ABORT });
        let mut value = BytesMut::with_capacity(6);
        value.put_i16(END_TXN_MARKER_VERSION);
        value.put_i32(self.coordinator_epoch);
        let mut builder = BatchBuilder::new();
        builder
            .push(NewRecord {
                key: Some(&key),
                value: Some(&value),
                timestamp_ms,
            })
            .producer(self.producer_id, self.producer_epoch, -1)
            .flags(TRANSACTIONAL_FLAG | CONTROL_FLAG);
        builder.build()
    }

    /// The marker a control batch holds; `None` for any other batch, or a control record of
    /// another type or version.
    pub fn from_batch(batch: &RecordBatch) -> Option<TxnMarker> {
        let attributes = batch.attributes();
        if !attributes.is_control() || !attributes.is_transactional() {
            return None;
        }
        let record = batch.record_views()?.next()?;
        let key = record.key?;
        let value = record.value?;
        if key.len() < 4 || value.len() < 6 {
            return None;
        }
        let field_i16 = |b: &[u8], at: usize| i16::from_be_bytes([b[at], b[at + 1]]);
        if field_i16(key, 0) != CONTROL_KEY_VERSION || field_i16(value, 0) != END_TXN_MARKER_VERSION
        {
            return None;
        }
        let commit = match field_i16(key, 2) {
            ABORT => false,
            COMMIT => true,
            _ => return None,
        };
        Some(TxnMarker {
            producer_id: batch.producer_id(),
            producer_epoch: batch.producer_epoch(),
            commit,
            coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::split_batches;

    #[test]
    fn markers_round_trip_as_control_batches() {
        for commit in [true, false] {
            let marker = TxnMarker {
                producer_id: 4001,
                producer_epoch: 3,
                commit,
                coordinator_epoch: 7,
            };
            let bytes = marker.to_batch(1_700_000_000_000);
            let batch = split_batches(bytes).next().unwrap().unwrap();
            batch
                .check_integrity()
                .expect("a valid batch, CRC included");
            assert!(batch.attributes().is_control());
            assert!(batch.attributes().is_transactional());
            assert_eq!(batch.base_sequence(), -1);
            assert_eq!(batch.record_count(), 1);
            assert_eq!(TxnMarker::from_batch(&batch), Some(marker));
        }
    }

    #[test]
    fn other_batches_are_not_markers() {
        let plain = split_batches(crate::record::batch_of(1, 10, 0))
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(TxnMarker::from_batch(&plain), None);
        // A transactional data batch (not control) is no marker either.
        let mut builder = BatchBuilder::new();
        builder
            .push(NewRecord {
                key: None,
                value: Some(b"v"),
                timestamp_ms: 0,
            })
            .producer(1, 0, 0)
            .flags(TRANSACTIONAL_FLAG);
        let data = split_batches(builder.build()).next().unwrap().unwrap();
        assert!(data.attributes().is_transactional());
        assert!(!data.attributes().is_control());
        assert_eq!(TxnMarker::from_batch(&data), None);
    }
}
