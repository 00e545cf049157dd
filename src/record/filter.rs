//! Record-level work on stored batches: the log cleaner keeps some records of a batch and drops
//! the others, and a compacted topic refuses records without a key. Both see the decompressed
//! records; a rewritten batch keeps its codec, base offset and `lastOffsetDelta` (so the offsets
//! of the records it keeps, and where the batch ends, do not change — Kafka's cleaner does the
//! same), with the count, max timestamp, length and CRC recomputed.

use std::borrow::Cow;

use super::batch::{Compression, HeaderChanges, RecordBatch, TimestampType, BATCH_HEADER_LEN};
use super::codec;
use super::error::RecordError;
use super::records::{raw_records, RawRecord, RawRecords};

/// What is left of a batch after filtering.
#[derive(Debug)]
pub enum Filtered {
    /// Every record kept: the stored bytes stay as they are.
    Unchanged,
    /// No record kept.
    Dropped,
    /// Some records kept, in a new batch.
    Rewritten(RecordBatch),
}

/// The batch's records section, decompressed (bounded by `limit` bytes) when it is compressed.
fn records_section(batch: &RecordBatch, limit: usize) -> Result<Cow<'_, [u8]>, RecordError> {
    let codec = batch.attributes().compression()?;
    let stored = &batch.as_bytes()[BATCH_HEADER_LEN..];
    Ok(if codec == Compression::None {
        Cow::Borrowed(stored)
    } else {
        Cow::Owned(codec::decompress(codec, stored, limit)?)
    })
}

/// Calls `visit` on each record in one pass; a records section that does not hold
/// `record_count` well-formed records is corrupt (what was visited before that is then the
/// caller's to discard).
pub fn for_each_record(
    batch: &RecordBatch,
    limit: usize,
    mut visit: impl FnMut(RawRecord<'_>),
) -> Result<(), RecordError> {
    let section = records_section(batch, limit)?;
    let count = batch.record_count();
    let mut parsed = 0usize;
    for record in raw_records(&section, count) {
        parsed += 1;
        visit(record);
    }
    if parsed != count.max(0) as usize {
        return Err(RecordError::MalformedRecords { count, parsed });
    }
    Ok(())
}

/// Runs `work` over the batch's records once they are known to be well-formed (two passes:
/// for callers that must act on a batch all or nothing).
pub fn with_records<T>(
    batch: &RecordBatch,
    limit: usize,
    work: impl FnOnce(RawRecords<'_>) -> T,
) -> Result<T, RecordError> {
    let section = records_section(batch, limit)?;
    let count = batch.record_count();
    let parsed = raw_records(&section, count).count();
    if parsed != count.max(0) as usize {
        return Err(RecordError::MalformedRecords { count, parsed });
    }
    Ok(work(raw_records(&section, count)))
}

/// The positions in the batch (0 = first record) of records without a key: Kafka refuses them
/// on compacted topics with INVALID_RECORD ("Compacted topic cannot accept message without
/// key") and names each in the Produce response's `record_errors` (KIP-467).
pub fn keyless_records(batch: &RecordBatch, limit: usize) -> Result<Vec<i32>, RecordError> {
    let mut keyless = Vec::new();
    let mut index = 0i32;
    for_each_record(batch, limit, |r| {
        if r.key.is_none() {
            keyless.push(index);
        }
        index += 1;
    })?;
    Ok(keyless)
}

/// Keeps the records for which `keep(record, offset)` is true.
pub fn filter_batch(
    batch: &RecordBatch,
    limit: usize,
    mut keep: impl FnMut(&RawRecord<'_>, i64) -> bool,
) -> Result<Filtered, RecordError> {
    let base_offset = batch.base_offset();
    let mut kept_bytes = Vec::new();
    let mut kept = 0i32;
    let mut max_delta = None::<i64>;
    for_each_record(batch, limit, |record| {
        if keep(&record, base_offset + i64::from(record.offset_delta)) {
            kept += 1;
            kept_bytes.extend_from_slice(record.bytes);
            max_delta = max_delta.max(Some(record.timestamp_delta));
        }
    })?;
    if kept == batch.record_count() {
        return Ok(Filtered::Unchanged);
    }
    if kept == 0 {
        return Ok(Filtered::Dropped);
    }
    let codec = batch.attributes().compression()?;
    let section = match codec {
        Compression::None => kept_bytes,
        other => codec::compress(other, &kept_bytes),
    };
    let max_timestamp =
        (batch.attributes().timestamp_type() == TimestampType::CreateTime).then(|| {
            batch
                .base_timestamp()
                .saturating_add(max_delta.unwrap_or(0))
        });
    Ok(Filtered::Rewritten(batch.with_records_section(
        &section,
        HeaderChanges {
            record_count: Some(kept),
            max_timestamp,
            ..HeaderChanges::default()
        },
    )?))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::record::{BatchBuilder, NewRecord};

    /// Header fields the tests edit by hand (see the layout in `batch.rs`).
    const CRC: std::ops::Range<usize> = 17..21;
    const RECORD_COUNT: std::ops::Range<usize> = 57..61;

    fn batch(records: &[(Option<&str>, Option<&str>)], base_offset: i64) -> RecordBatch {
        let mut builder = BatchBuilder::new();
        for (i, (key, value)) in records.iter().enumerate() {
            builder.push(NewRecord {
                key: key.map(str::as_bytes),
                value: value.map(str::as_bytes),
                timestamp_ms: 1_000 + i as i64,
            });
        }
        let mut bytes = builder.build().to_vec();
        bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
        let crc = crate::checksum::crc32c(&bytes[21..]);
        bytes[CRC].copy_from_slice(&crc.to_be_bytes());
        RecordBatch::new(Bytes::from(bytes)).unwrap()
    }

    #[test]
    fn kept_records_keep_their_offsets_in_every_codec() {
        let plain = batch(
            &[
                (Some("a"), Some("1")),
                (Some("b"), Some("2")),
                (Some("a"), Some("3")),
                (Some("c"), None),
            ],
            100,
        );
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let original = codec::recompress(&plain, codec, 1 << 20).unwrap();
            let Filtered::Rewritten(cleaned) = filter_batch(&original, 1 << 20, |_, offset| {
                offset != 100 && offset != 101
            })
            .unwrap() else {
                panic!("{codec:?}: expected a rewritten batch");
            };
            cleaned.check_integrity().unwrap();
            assert_eq!(cleaned.attributes().compression().unwrap(), codec);
            assert_eq!(cleaned.base_offset(), 100);
            assert_eq!(
                cleaned.last_offset(),
                103,
                "the batch still ends where it did"
            );
            assert_eq!(cleaned.record_count(), 2);
            assert_eq!(cleaned.max_timestamp(), 1_003);
            let kept = with_records(&cleaned, 1 << 20, |records| {
                records
                    .map(|r| (r.offset_delta, r.key.map(<[u8]>::to_vec), r.value.is_some()))
                    .collect::<Vec<_>>()
            })
            .unwrap();
            assert_eq!(
                kept,
                vec![
                    (2, Some(b"a".to_vec()), true),
                    (3, Some(b"c".to_vec()), false)
                ]
            );
        }
    }

    #[test]
    fn all_or_nothing_filters_say_so() {
        let b = batch(&[(Some("a"), Some("1")), (Some("b"), Some("2"))], 0);
        assert!(matches!(
            filter_batch(&b, 1 << 20, |_, _| true).unwrap(),
            Filtered::Unchanged
        ));
        assert!(matches!(
            filter_batch(&b, 1 << 20, |_, _| false).unwrap(),
            Filtered::Dropped
        ));
    }

    #[test]
    fn keyless_records_are_found_and_bad_sections_refused() {
        assert!(
            keyless_records(&batch(&[(Some("a"), Some("1"))], 0), 1 << 20)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            keyless_records(
                &batch(
                    &[(None, Some("0")), (Some("a"), Some("1")), (None, Some("2"))],
                    0
                ),
                1 << 20
            )
            .unwrap(),
            vec![0, 2]
        );
        let mut bytes = batch(&[(Some("a"), Some("1"))], 0).as_bytes().to_vec();
        bytes[RECORD_COUNT].copy_from_slice(&2i32.to_be_bytes());
        let crc = crate::checksum::crc32c(&bytes[21..]);
        bytes[CRC].copy_from_slice(&crc.to_be_bytes());
        let lying = RecordBatch::new(Bytes::from(bytes)).unwrap();
        assert_eq!(
            keyless_records(&lying, 1 << 20),
            Err(RecordError::MalformedRecords {
                count: 2,
                parsed: 1
            })
        );
    }
}
