//! Walks the records inside an uncompressed batch for their timestamps, which ListOffsets by
//! timestamp needs to answer with a record's offset rather than its batch's.

use super::batch::{Compression, RecordBatch, BATCH_HEADER_LEN};
use super::varint::{read_varint, read_varlong};

/// One record's position in its batch and its timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordTimestamp {
    pub offset_delta: i32,
    pub timestamp_ms: i64,
}

/// Iterator over the records of an uncompressed batch; stops at the first malformed record.
pub struct RecordTimestamps<'a> {
    rest: &'a [u8],
    base_timestamp_ms: i64,
    remaining: i32,
}

impl RecordBatch {
    /// The records' timestamps, when the batch is uncompressed (compressed batches would need
    /// their codec: `None` then). Under LogAppendTime every record carries the batch's max
    /// timestamp, as Kafka defines it.
    pub fn record_timestamps(&self) -> Option<RecordTimestamps<'_>> {
        if self.attributes().compression().ok()? != Compression::None {
            return None;
        }
        Some(RecordTimestamps {
            rest: &self.as_bytes()[BATCH_HEADER_LEN..],
            base_timestamp_ms: self.base_timestamp(),
            remaining: self.record_count(),
        })
    }
}

impl Iterator for RecordTimestamps<'_> {
    type Item = RecordTimestamp;

    fn next(&mut self) -> Option<RecordTimestamp> {
        if self.remaining <= 0 {
            return None;
        }
        let (length, used) = read_varint(self.rest)?;
        let body_start = used;
        let body_end = body_start.checked_add(usize::try_from(length).ok()?)?;
        let body = self.rest.get(body_start..body_end)?;
        // attributes (1 byte), then timestampDelta (varlong), then offsetDelta (varint).
        let (timestamp_delta, ts_used) = read_varlong(body.get(1..)?)?;
        let (offset_delta, _) = read_varint(body.get(1 + ts_used..)?)?;
        self.rest = &self.rest[body_end..];
        self.remaining -= 1;
        Some(RecordTimestamp {
            offset_delta,
            timestamp_ms: self.base_timestamp_ms.saturating_add(timestamp_delta),
        })
    }
}
