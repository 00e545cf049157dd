//! Builds uncompressed RecordBatch v2 bytes the way a Kafka producer does: base offset 0,
//! leader epoch -1, no producer id unless one is given (idempotent and transactional batches,
//! and the control batches of transaction markers). Used by tests, benchmarks, the
//! command-line tools and the transaction markers.

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{BATCH_HEADER_LEN, BATCH_OVERHEAD_LEN, MAGIC_V2};
use super::varint::write_varlong;

/// One record to put in a batch.
#[derive(Debug, Clone, Copy)]
pub struct NewRecord<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub timestamp_ms: i64,
}

/// Accumulates records, then writes one batch.
#[derive(Debug)]
pub struct BatchBuilder {
    records: Vec<u8>,
    count: i32,
    base_timestamp_ms: Option<i64>,
    max_timestamp_ms: i64,
    /// Producer id, epoch and base sequence (-1, -1, -1: none).
    producer: (i64, i16, i32),
    /// The batch attributes' transactional and control bits.
    flags: i16,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder {
            records: Vec::new(),
            count: 0,
            base_timestamp_ms: None,
            max_timestamp_ms: 0,
            producer: (-1, -1, -1),
            flags: 0,
        }
    }
}

/// Batch attribute bits (Kafka's `RecordBatch`): bit 4 transactional, bit 5 control.
pub const TRANSACTIONAL_FLAG: i16 = 0x10;
pub const CONTROL_FLAG: i16 = 0x20;

fn put_bytes_field(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => write_varlong(out, -1),
        Some(bytes) => {
            write_varlong(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
        }
    }
}

impl BatchBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, record: NewRecord<'_>) -> &mut Self {
        let base_timestamp_ms = *self.base_timestamp_ms.get_or_insert(record.timestamp_ms);
        let mut body = Vec::with_capacity(16 + record.value.map_or(0, <[u8]>::len));
        body.push(0); // record attributes: unused in v2
        write_varlong(&mut body, record.timestamp_ms - base_timestamp_ms);
        write_varlong(&mut body, i64::from(self.count));
        put_bytes_field(&mut body, record.key);
        put_bytes_field(&mut body, record.value);
        write_varlong(&mut body, 0); // no headers
        write_varlong(&mut self.records, body.len() as i64);
        self.records.extend_from_slice(&body);
        self.count += 1;
        self.max_timestamp_ms = self.max_timestamp_ms.max(record.timestamp_ms);
        self
    }

    pub fn record_count(&self) -> i32 {
        self.count
    }

    /// The batch is an idempotent producer's: `producer_id` at `epoch`, first sequence
    /// `base_sequence` (-1 for a control batch).
    pub fn producer(&mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> &mut Self {
        self.producer = (producer_id, epoch, base_sequence);
        self
    }

    /// Sets attribute bits (`TRANSACTIONAL_FLAG`, `CONTROL_FLAG`).
    pub fn flags(&mut self, flags: i16) -> &mut Self {
        self.flags = flags & (TRANSACTIONAL_FLAG | CONTROL_FLAG);
        self
    }

    /// The batch's size once built.
    pub fn size_bytes(&self) -> usize {
        BATCH_HEADER_LEN + self.records.len()
    }

    /// Writes the batch. Panics if no record was pushed: an empty batch is not a Kafka batch.
    pub fn build(&self) -> Bytes {
        assert!(self.count > 0, "a record batch needs at least one record");
        let size = self.size_bytes();
        let mut out = BytesMut::with_capacity(size);
        out.put_i64(0); // base offset: assigned by the broker
        out.put_i32((size - BATCH_OVERHEAD_LEN) as i32);
        out.put_i32(-1); // partition leader epoch: unknown to producers
        out.put_i8(MAGIC_V2);
        out.put_u32(0); // CRC, filled below
        out.put_i16(self.flags); // and no compression, CreateTime
        out.put_i32(self.count - 1);
        out.put_i64(self.base_timestamp_ms.unwrap_or(0));
        out.put_i64(self.max_timestamp_ms);
        let (producer_id, epoch, base_sequence) = self.producer;
        out.put_i64(producer_id);
        out.put_i16(epoch);
        out.put_i32(base_sequence);
        out.put_i32(self.count);
        out.extend_from_slice(&self.records);
        let crc = crate::checksum::crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        out.freeze()
    }
}

/// A batch of `count` records with `value_len`-byte values, timestamps `timestamp_ms` onward.
pub fn batch_of(count: usize, value_len: usize, timestamp_ms: i64) -> Bytes {
    let value = vec![b'v'; value_len];
    let mut builder = BatchBuilder::new();
    for i in 0..count {
        let key = format!("key-{i}");
        builder.push(NewRecord {
            key: Some(key.as_bytes()),
            value: Some(&value),
            timestamp_ms: timestamp_ms + i as i64,
        });
    }
    builder.build()
}
