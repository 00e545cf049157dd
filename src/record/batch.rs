//! The RecordBatch v2 header, read in place from `Bytes`.
//!
//! Layout (Kafka protocol guide, "Record Batch"), big-endian:
//! ```text
//!  0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 | 17 crc u32
//! 21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64 | 35 maxTimestamp i64
//! 43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 | 57 recordCount i32 | 61 records
//! ```
//! `batchLength` counts the bytes after itself; the CRC-32C covers `attributes` to the end, so the
//! base offset and the leader epoch can be patched without recomputing it.

use bytes::Bytes;

use super::error::RecordError;

pub const MAGIC_V2: i8 = 2;
/// Bytes before the first record.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes of `baseOffset` + `batchLength`, which `batchLength` does not count.
pub const BATCH_OVERHEAD_LEN: usize = 12;

const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORD_COUNT: usize = 57;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// The batch codec, attributes bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn from_id(id: u8) -> Result<Self, RecordError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            codec => Err(RecordError::UnknownCompression { codec }),
        }
    }

    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

/// Whether a batch's timestamps were set by the producer or by the broker (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The batch attributes word, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchAttributes(pub i16);

impl BatchAttributes {
    pub fn compression(self) -> Result<Compression, RecordError> {
        Compression::from_id((self.0 & COMPRESSION_MASK) as u8)
    }

    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(self) -> bool {
        self.0 & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(self) -> bool {
        self.0 & CONTROL_BIT != 0
    }
}

/// One whole RecordBatch v2, viewed in place. Constructing it checks only that the buffer holds
/// exactly the batch its length field declares; [`RecordBatch::check_integrity`] and
/// [`RecordBatch::validate_from_client`] do the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(word)
}

/// The total size (header included) that the batch starting at `buf` declares, if `buf` holds at
/// least its first 12 bytes. Does not check that the batch is all there.
pub fn declared_batch_size(buf: &[u8]) -> Result<usize, RecordError> {
    if buf.len() < BATCH_OVERHEAD_LEN {
        return Err(RecordError::Truncated {
            available: buf.len(),
            needed: BATCH_OVERHEAD_LEN,
        });
    }
    let batch_length = be_i32(buf, BATCH_LENGTH);
    let min_length = (BATCH_HEADER_LEN - BATCH_OVERHEAD_LEN) as i32;
    if batch_length < min_length {
        return Err(RecordError::BadLength {
            batch_length,
            available: buf.len(),
        });
    }
    Ok(BATCH_OVERHEAD_LEN + batch_length as usize)
}

/// The size and last offset that a batch's first [`BATCH_HEADER_LEN`] bytes declare, read
/// before the rest of the batch is (a fetch deciding whether it takes the batch).
pub fn declared_batch_span(header: &[u8; BATCH_HEADER_LEN]) -> Result<(usize, i64), RecordError> {
    let size = declared_batch_size(header)?;
    let last_offset = be_i64(header, BASE_OFFSET) + i64::from(be_i32(header, LAST_OFFSET_DELTA));
    Ok((size, last_offset))
}

impl RecordBatch {
    /// Views the batch that begins at the start of `bytes`; `bytes` must hold exactly that batch.
    pub fn new(bytes: Bytes) -> Result<Self, RecordError> {
        let size = declared_batch_size(&bytes)?;
        if size != bytes.len() {
            return Err(RecordError::BadLength {
                batch_length: be_i32(&bytes, BATCH_LENGTH),
                available: bytes.len(),
            });
        }
        Ok(Self { bytes })
    }

    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Size of the whole batch on the wire and on disk.
    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn base_offset(&self) -> i64 {
        be_i64(&self.bytes, BASE_OFFSET)
    }

    pub fn batch_length(&self) -> i32 {
        be_i32(&self.bytes, BATCH_LENGTH)
    }

    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(&self.bytes, PARTITION_LEADER_EPOCH)
    }

    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC] as i8
    }

    pub fn crc(&self) -> u32 {
        be_i32(&self.bytes, CRC) as u32
    }

    pub fn attributes(&self) -> BatchAttributes {
        BatchAttributes(be_i16(&self.bytes, ATTRIBUTES))
    }

    pub fn last_offset_delta(&self) -> i32 {
        be_i32(&self.bytes, LAST_OFFSET_DELTA)
    }

    /// Kafka calls this `baseTimestamp` on the wire and `firstTimestamp` in KIP-98.
    pub fn base_timestamp(&self) -> i64 {
        be_i64(&self.bytes, BASE_TIMESTAMP)
    }

    pub fn max_timestamp(&self) -> i64 {
        be_i64(&self.bytes, MAX_TIMESTAMP)
    }

    pub fn producer_id(&self) -> i64 {
        be_i64(&self.bytes, PRODUCER_ID)
    }

    pub fn producer_epoch(&self) -> i16 {
        be_i16(&self.bytes, PRODUCER_EPOCH)
    }

    pub fn base_sequence(&self) -> i32 {
        be_i32(&self.bytes, BASE_SEQUENCE)
    }

    pub fn record_count(&self) -> i32 {
        be_i32(&self.bytes, RECORD_COUNT)
    }

    /// `base_offset + last_offset_delta`: the offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + i64::from(self.last_offset_delta())
    }

    /// The record bytes after the header (compressed when the codec is not `none`).
    pub fn records_bytes(&self) -> Bytes {
        self.bytes.slice(BATCH_HEADER_LEN..)
    }

    /// CRC-32C (Castagnoli) over attributes..end, as `DefaultRecordBatch.computeChecksum` does.
    pub fn compute_crc(&self) -> u32 {
        crate::checksum::crc32c(&self.bytes[ATTRIBUTES..])
    }

    /// What every stored batch must satisfy: magic 2 and a CRC that matches. Used on recovery and
    /// on every append; it does not decompress.
    pub fn check_integrity(&self) -> Result<(), RecordError> {
        if self.magic() != MAGIC_V2 {
            return Err(RecordError::UnsupportedMagic {
                magic: self.magic(),
            });
        }
        let computed = self.compute_crc();
        if computed != self.crc() {
            return Err(RecordError::CrcMismatch {
                stored: self.crc(),
                computed,
            });
        }
        Ok(())
    }

    /// Everything Kafka's `LogValidator` checks on a client's batch before it assigns offsets,
    /// short of decompressing: integrity, base offset 0, a known codec, and a record count that
    /// matches the offset range (`count == lastOffsetDelta + 1`).
    pub fn validate_from_client(&self) -> Result<(), RecordError> {
        self.check_integrity()?;
        if self.base_offset() != 0 {
            return Err(RecordError::NonZeroBaseOffset {
                base_offset: self.base_offset(),
            });
        }
        self.attributes().compression()?;
        // Kafka's LogValidator: "Clients are not allowed to write control records".
        if self.attributes().is_control() {
            return Err(RecordError::ControlBatchFromClient);
        }
        let count = self.record_count();
        let last_offset_delta = self.last_offset_delta();
        if count < 1
            || last_offset_delta < 0
            || i64::from(count) != i64::from(last_offset_delta) + 1
        {
            return Err(RecordError::InconsistentCount {
                count,
                last_offset_delta,
            });
        }
        Ok(())
    }
}

/// Splits a `records` field (Kafka's MemoryRecords: batches back to back) into batch views.
pub fn split_batches(records: Bytes) -> BatchIter {
    BatchIter { rest: records }
}

/// Iterator returned by [`split_batches`]; yields an error once and then stops if the bytes do not
/// end on a batch boundary.
pub struct BatchIter {
    rest: Bytes,
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let size = match declared_batch_size(&self.rest) {
            Ok(size) if size <= self.rest.len() => size,
            Ok(size) => {
                let available = self.rest.len();
                self.rest = Bytes::new();
                return Some(Err(RecordError::Truncated {
                    available,
                    needed: size,
                }));
            }
            Err(err) => {
                self.rest = Bytes::new();
                return Some(Err(err));
            }
        };
        let batch = self.rest.split_to(size);
        Some(RecordBatch::new(batch))
    }
}

/// Header fields a rebuilt batch changes (`None`: kept as they are).
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderChanges {
    pub compression: Option<Compression>,
    pub record_count: Option<i32>,
    pub max_timestamp: Option<i64>,
}

impl RecordBatch {
    /// This batch's header over a new records section (recompression, compaction), with
    /// `changes` applied and `batchLength` and the CRC recomputed.
    pub fn with_records_section(
        &self,
        section: &[u8],
        changes: HeaderChanges,
    ) -> Result<RecordBatch, RecordError> {
        let mut out = Vec::with_capacity(BATCH_HEADER_LEN + section.len());
        out.extend_from_slice(&self.bytes[..BATCH_HEADER_LEN]);
        out.extend_from_slice(section);
        let batch_length = (out.len() - BATCH_OVERHEAD_LEN) as i32;
        out[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&batch_length.to_be_bytes());
        if let Some(codec) = changes.compression {
            let attributes = (self.attributes().0 & !COMPRESSION_MASK) | i16::from(codec.id());
            out[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        }
        if let Some(count) = changes.record_count {
            out[RECORD_COUNT..RECORD_COUNT + 4].copy_from_slice(&count.to_be_bytes());
        }
        if let Some(max_timestamp) = changes.max_timestamp {
            out[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&max_timestamp.to_be_bytes());
        }
        let crc = crate::checksum::crc32c(&out[ATTRIBUTES..]);
        out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        RecordBatch::new(Bytes::from(out))
    }
}

/// A batch header as the broker stores it: the client's 61 header bytes with the broker-assigned
/// base offset and leader epoch written in, and, under LogAppendTime, the timestamp type bit and
/// max timestamp set and the CRC recomputed (Kafka requires that one, since those fields are
/// covered by the CRC). The records after the header are not touched, so they are never copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchedHeader(pub [u8; BATCH_HEADER_LEN]);

impl PatchedHeader {
    /// The leader epoch stamped on the stored batch.
    pub fn partition_leader_epoch(&self) -> i32 {
        i32::from_be_bytes(
            self.0[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4]
                .try_into()
                .expect("four bytes"),
        )
    }
}

/// Builds the stored header of `batch`; see [`PatchedHeader`].
pub fn patch_header(
    batch: &RecordBatch,
    base_offset: i64,
    partition_leader_epoch: i32,
    log_append_time_ms: Option<i64>,
) -> PatchedHeader {
    let mut header = [0u8; BATCH_HEADER_LEN];
    header.copy_from_slice(&batch.bytes[..BATCH_HEADER_LEN]);
    header[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    header[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4]
        .copy_from_slice(&partition_leader_epoch.to_be_bytes());
    if let Some(now_ms) = log_append_time_ms {
        let attributes = be_i16(&header, ATTRIBUTES) | TIMESTAMP_TYPE_BIT;
        header[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        header[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
        let crc = crate::checksum::crc32c_append(
            crate::checksum::crc32c(&header[ATTRIBUTES..]),
            &batch.bytes[BATCH_HEADER_LEN..],
        );
        header[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
    PatchedHeader(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{batch_of, BatchBuilder, NewRecord};
    use crate::ErrorCode;

    fn with_byte(batch: &Bytes, at: usize, value: u8) -> Bytes {
        let mut bytes = batch.to_vec();
        bytes[at] = value;
        Bytes::from(bytes)
    }

    /// Rewrites the CRC so that a deliberately edited header passes the CRC check and the
    /// validation under test is the one that fails.
    fn with_fixed_crc(bytes: Bytes) -> Bytes {
        let mut bytes = bytes.to_vec();
        let crc = crate::checksum::crc32c(&bytes[ATTRIBUTES..]);
        bytes[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(bytes)
    }

    #[test]
    fn header_fields_read_in_place() {
        let mut builder = BatchBuilder::new();
        for ts in [1_000, 1_007, 1_003] {
            builder.push(NewRecord {
                key: Some(b"k"),
                value: Some(b"value"),
                timestamp_ms: ts,
            });
        }
        let batch = RecordBatch::new(builder.build()).unwrap();
        assert_eq!(batch.base_offset(), 0);
        assert_eq!(batch.batch_length() as usize + 12, batch.size_bytes());
        assert_eq!(batch.partition_leader_epoch(), -1);
        assert_eq!(batch.magic(), 2);
        assert_eq!(batch.attributes().compression(), Ok(Compression::None));
        assert_eq!(
            batch.attributes().timestamp_type(),
            TimestampType::CreateTime
        );
        assert!(!batch.attributes().is_transactional());
        assert!(!batch.attributes().is_control());
        assert_eq!(batch.last_offset_delta(), 2);
        assert_eq!(batch.base_timestamp(), 1_000);
        assert_eq!(batch.max_timestamp(), 1_007);
        assert_eq!(batch.producer_id(), -1);
        assert_eq!(batch.producer_epoch(), -1);
        assert_eq!(batch.base_sequence(), -1);
        assert_eq!(batch.record_count(), 3);
        assert_eq!(batch.validate_from_client(), Ok(()));
        let timestamps: Vec<_> = batch.record_timestamps().unwrap().collect();
        assert_eq!(
            timestamps
                .iter()
                .map(|r| r.timestamp_ms)
                .collect::<Vec<_>>(),
            vec![1_000, 1_007, 1_003]
        );
        assert_eq!(timestamps[2].offset_delta, 2);
    }

    #[test]
    fn view_shares_the_buffer() {
        let bytes = batch_of(4, 100, 0);
        let batch = RecordBatch::new(bytes.clone()).unwrap();
        assert_eq!(batch.as_bytes().as_ptr(), bytes.as_ptr(), "no copy");
    }

    #[test]
    fn every_flipped_byte_in_the_crc_range_is_corrupt_message() {
        let bytes = batch_of(3, 20, 0);
        for at in CRC..bytes.len() {
            let flipped = with_byte(&bytes, at, bytes[at] ^ 0x40);
            let err = RecordBatch::new(flipped)
                .unwrap()
                .check_integrity()
                .unwrap_err();
            assert_eq!(
                err.error_code(),
                ErrorCode::CorruptMessage,
                "byte {at}: {err}"
            );
        }
    }

    #[test]
    fn base_offset_and_epoch_are_outside_the_crc() {
        let bytes = batch_of(3, 20, 0);
        let batch = RecordBatch::new(bytes).unwrap();
        let header = patch_header(&batch, 1234, 7, None);
        let mut stored = header.0.to_vec();
        stored.extend_from_slice(&batch.as_bytes()[BATCH_HEADER_LEN..]);
        let stored = RecordBatch::new(Bytes::from(stored)).unwrap();
        assert_eq!(stored.base_offset(), 1234);
        assert_eq!(stored.last_offset(), 1236);
        assert_eq!(stored.partition_leader_epoch(), 7);
        assert_eq!(stored.crc(), batch.crc(), "CRC untouched");
        assert_eq!(stored.check_integrity(), Ok(()));
    }

    #[test]
    fn log_append_time_sets_bit_and_max_timestamp_and_recomputes_crc() {
        let batch = RecordBatch::new(batch_of(2, 8, 50)).unwrap();
        let header = patch_header(&batch, 10, 0, Some(99_999));
        let mut stored = header.0.to_vec();
        stored.extend_from_slice(&batch.as_bytes()[BATCH_HEADER_LEN..]);
        let stored = RecordBatch::new(Bytes::from(stored)).unwrap();
        assert_eq!(
            stored.attributes().timestamp_type(),
            TimestampType::LogAppendTime
        );
        assert_eq!(stored.max_timestamp(), 99_999);
        assert_eq!(
            stored.base_timestamp(),
            50,
            "Kafka leaves the base timestamp"
        );
        assert_ne!(stored.crc(), batch.crc());
        assert_eq!(stored.check_integrity(), Ok(()));
    }

    #[test]
    fn wrong_magic_is_invalid_record() {
        let bytes = with_byte(&batch_of(1, 1, 0), MAGIC, 1);
        let err = RecordBatch::new(bytes)
            .unwrap()
            .check_integrity()
            .unwrap_err();
        assert_eq!(err, RecordError::UnsupportedMagic { magic: 1 });
        assert_eq!(err.error_code(), ErrorCode::InvalidRecord);
    }

    #[test]
    fn unknown_codec_is_unsupported_compression_type() {
        let bytes = with_fixed_crc(with_byte(&batch_of(1, 1, 0), ATTRIBUTES + 1, 0x05));
        let err = RecordBatch::new(bytes)
            .unwrap()
            .validate_from_client()
            .unwrap_err();
        assert_eq!(err, RecordError::UnknownCompression { codec: 5 });
        assert_eq!(err.error_code(), ErrorCode::UnsupportedCompressionType);
    }

    #[test]
    fn count_must_match_last_offset_delta() {
        let bytes = with_fixed_crc(with_byte(&batch_of(3, 1, 0), RECORD_COUNT + 3, 2));
        let err = RecordBatch::new(bytes)
            .unwrap()
            .validate_from_client()
            .unwrap_err();
        assert_eq!(
            err,
            RecordError::InconsistentCount {
                count: 2,
                last_offset_delta: 2
            }
        );
        assert_eq!(err.error_code(), ErrorCode::InvalidRecord);
    }

    #[test]
    fn zero_records_is_invalid_record() {
        let mut bytes = batch_of(1, 1, 0).to_vec();
        bytes[RECORD_COUNT..RECORD_COUNT + 4].copy_from_slice(&0i32.to_be_bytes());
        bytes[LAST_OFFSET_DELTA..LAST_OFFSET_DELTA + 4].copy_from_slice(&(-1i32).to_be_bytes());
        let bytes = with_fixed_crc(Bytes::from(bytes));
        let err = RecordBatch::new(bytes)
            .unwrap()
            .validate_from_client()
            .unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::InvalidRecord);
    }

    #[test]
    fn client_base_offset_must_be_zero() {
        let bytes = with_byte(&batch_of(1, 1, 0), 7, 9);
        let err = RecordBatch::new(bytes)
            .unwrap()
            .validate_from_client()
            .unwrap_err();
        assert_eq!(err, RecordError::NonZeroBaseOffset { base_offset: 9 });
    }

    #[test]
    fn lengths_that_disagree_with_the_buffer_are_corrupt_message() {
        let bytes = batch_of(2, 10, 0);
        for cut in [0, 5, 11, 12, 60, bytes.len() - 1] {
            let err = RecordBatch::new(bytes.slice(..cut)).unwrap_err();
            assert_eq!(err.error_code(), ErrorCode::CorruptMessage, "cut at {cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        let err = RecordBatch::new(Bytes::from(longer)).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::CorruptMessage);
        let negative = with_byte(&bytes, BATCH_LENGTH, 0xff);
        assert!(matches!(
            RecordBatch::new(negative),
            Err(RecordError::BadLength { .. })
        ));
    }

    #[test]
    fn split_batches_walks_memory_records() {
        let mut records = batch_of(2, 10, 0).to_vec();
        records.extend_from_slice(&batch_of(5, 3, 0));
        let records = Bytes::from(records);
        let batches: Vec<_> = split_batches(records.clone())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1].record_count(), 5);
        let torn: Vec<_> = split_batches(records.slice(..records.len() - 3)).collect();
        assert_eq!(torn.len(), 2);
        assert!(matches!(torn[1], Err(RecordError::Truncated { .. })));
    }
}
