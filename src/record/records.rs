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

/// One record of an uncompressed batch: its offset delta, key and value (headers skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// Iterator over the records of an uncompressed batch; stops at the first malformed record.
pub struct RecordViews<'a> {
    rest: &'a [u8],
    remaining: i32,
}

impl RecordBatch {
    /// The records' keys and values, when the batch is uncompressed (`None` otherwise). Used for
    /// the broker's own internal topics, which it writes uncompressed.
    pub fn record_views(&self) -> Option<RecordViews<'_>> {
        if self.attributes().compression().ok()? != Compression::None {
            return None;
        }
        Some(RecordViews {
            rest: &self.as_bytes()[BATCH_HEADER_LEN..],
            remaining: self.record_count(),
        })
    }
}

fn read_bytes_field(buf: &[u8]) -> Option<(Option<&[u8]>, usize)> {
    let (length, used) = read_varint(buf)?;
    if length < 0 {
        return Some((None, used));
    }
    let end = used.checked_add(length as usize)?;
    Some((Some(buf.get(used..end)?), end))
}

impl<'a> Iterator for RecordViews<'a> {
    type Item = RecordView<'a>;

    fn next(&mut self) -> Option<RecordView<'a>> {
        if self.remaining <= 0 {
            return None;
        }
        let (length, used) = read_varint(self.rest)?;
        let body_end = used.checked_add(usize::try_from(length).ok()?)?;
        let body = self.rest.get(used..body_end)?;
        // attributes (1 byte), timestampDelta (varlong), offsetDelta (varint), key, value.
        let (_, ts_used) = read_varlong(body.get(1..)?)?;
        let mut at = 1 + ts_used;
        let (offset_delta, od_used) = read_varint(body.get(at..)?)?;
        at += od_used;
        let (key, key_used) = read_bytes_field(body.get(at..)?)?;
        at += key_used;
        let (value, _) = read_bytes_field(body.get(at..)?)?;
        self.rest = &self.rest[body_end..];
        self.remaining -= 1;
        Some(RecordView {
            offset_delta,
            key,
            value,
        })
    }
}

#[cfg(test)]
mod view_tests {
    use crate::record::{BatchBuilder, NewRecord, RecordBatch};

    #[test]
    fn keys_and_values_come_back() {
        let mut builder = BatchBuilder::new();
        builder.push(NewRecord {
            key: Some(b"k1"),
            value: Some(b"v1"),
            timestamp_ms: 5,
        });
        builder.push(NewRecord {
            key: None,
            value: None,
            timestamp_ms: 6,
        });
        let batch = RecordBatch::new(builder.build()).unwrap();
        let views: Vec<_> = batch.record_views().unwrap().collect();
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].key, Some(&b"k1"[..]));
        assert_eq!(views[0].value, Some(&b"v1"[..]));
        assert_eq!(
            (views[1].offset_delta, views[1].key, views[1].value),
            (1, None, None)
        );
    }
}
