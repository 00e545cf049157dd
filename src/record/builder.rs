//! Builds uncompressed RecordBatch v2 bytes the way a Kafka producer does: base offset 0, no
//! producer id, leader epoch -1. Used by tests, benchmarks and the command-line tools.

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
#[derive(Debug, Default)]
pub struct BatchBuilder {
    records: Vec<u8>,
    count: i32,
    base_timestamp_ms: Option<i64>,
    max_timestamp_ms: i64,
}

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
        out.put_i16(0); // attributes: no compression, CreateTime
        out.put_i32(self.count - 1);
        out.put_i64(self.base_timestamp_ms.unwrap_or(0));
        out.put_i64(self.max_timestamp_ms);
        out.put_i64(-1); // producer id
        out.put_i16(-1); // producer epoch
        out.put_i32(-1); // base sequence
        out.put_i32(self.count);
        out.extend_from_slice(&self.records);
        let crc = crc32c::crc32c(&out[21..]);
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
