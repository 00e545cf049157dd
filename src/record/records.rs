//! Walks the records inside a batch's (uncompressed) records section: for their timestamps
//! (ListOffsets by timestamp lands on a record, not its batch), their keys and values (the
//! broker's own internal topics), and their stored bytes (the log cleaner keeps some records of a
//! batch and drops others).

use super::batch::{Compression, RecordBatch, BATCH_HEADER_LEN};
use super::varint::{read_varint, read_varlong};

/// One record as stored: its bytes (length prefix included) and the fields the broker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    pub bytes: &'a [u8],
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// Iterator over the records of a records section; stops at the first malformed record (a
/// caller that must know counts what it got against the batch's record count).
pub struct RawRecords<'a> {
    rest: &'a [u8],
    remaining: i32,
}

/// The records of `section`, an uncompressed (or decompressed) records section of `count`
/// records.
pub fn raw_records(section: &[u8], count: i32) -> RawRecords<'_> {
    RawRecords {
        rest: section,
        remaining: count,
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

impl<'a> Iterator for RawRecords<'a> {
    type Item = RawRecord<'a>;

    fn next(&mut self) -> Option<RawRecord<'a>> {
        if self.remaining <= 0 {
            return None;
        }
        let (length, used) = read_varint(self.rest)?;
        let body_end = used.checked_add(usize::try_from(length).ok()?)?;
        let body = self.rest.get(used..body_end)?;
        // attributes (1 byte), timestampDelta (varlong), offsetDelta (varint), key, value.
        let (timestamp_delta, ts_used) = read_varlong(body.get(1..)?)?;
        let mut at = 1 + ts_used;
        let (offset_delta, od_used) = read_varint(body.get(at..)?)?;
        at += od_used;
        let (key, key_used) = read_bytes_field(body.get(at..)?)?;
        at += key_used;
        let (value, _) = read_bytes_field(body.get(at..)?)?;
        let bytes = &self.rest[..body_end];
        self.rest = &self.rest[body_end..];
        self.remaining -= 1;
        Some(RawRecord {
            bytes,
            timestamp_delta,
            offset_delta,
            key,
            value,
        })
    }
}

/// One record's position in its batch and its timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordTimestamp {
    pub offset_delta: i32,
    pub timestamp_ms: i64,
}

/// Iterator over the records' timestamps of an uncompressed batch.
pub struct RecordTimestamps<'a> {
    records: RawRecords<'a>,
    base_timestamp_ms: i64,
}

/// One record of an uncompressed batch: its offset delta, key and value (headers skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// Iterator over the records of an uncompressed batch.
pub struct RecordViews<'a> {
    records: RawRecords<'a>,
}

impl RecordBatch {
    /// The records of an uncompressed batch (`None` for a compressed one, which needs its codec).
    fn uncompressed_records(&self) -> Option<RawRecords<'_>> {
        if self.attributes().compression().ok()? != Compression::None {
            return None;
        }
        Some(raw_records(
            &self.as_bytes()[BATCH_HEADER_LEN..],
            self.record_count(),
        ))
    }

    /// The records' timestamps, when the batch is uncompressed. Under LogAppendTime every record
    /// carries the batch's max timestamp, as Kafka defines it; callers check the type.
    pub fn record_timestamps(&self) -> Option<RecordTimestamps<'_>> {
        Some(RecordTimestamps {
            records: self.uncompressed_records()?,
            base_timestamp_ms: self.base_timestamp(),
        })
    }

    /// The records' keys and values, when the batch is uncompressed. Used for the broker's own
    /// internal topics, which it writes uncompressed.
    pub fn record_views(&self) -> Option<RecordViews<'_>> {
        Some(RecordViews {
            records: self.uncompressed_records()?,
        })
    }
}

impl Iterator for RecordTimestamps<'_> {
    type Item = RecordTimestamp;

    fn next(&mut self) -> Option<RecordTimestamp> {
        let record = self.records.next()?;
        Some(RecordTimestamp {
            offset_delta: record.offset_delta,
            timestamp_ms: self
                .base_timestamp_ms
                .saturating_add(record.timestamp_delta),
        })
    }
}

impl<'a> Iterator for RecordViews<'a> {
    type Item = RecordView<'a>;

    fn next(&mut self) -> Option<RecordView<'a>> {
        let record = self.records.next()?;
        Some(RecordView {
            offset_delta: record.offset_delta,
            key: record.key,
            value: record.value,
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
