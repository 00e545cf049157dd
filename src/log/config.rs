//! Per-partition log settings, named after the Kafka topic configs they implement.

use crate::record::{Compression, TimestampType};

/// When appended data is forced to stable storage (`fdatasync`).
///
/// Kafka's `log.flush.interval.messages` / `log.flush.interval.ms` (topic: `flush.messages`,
/// `flush.ms`). With neither set — Weir's default — every append that a producer awaits with
/// `acks=all` is on stable storage before the ack, and many appends share one `fdatasync` (group
/// commit). With either set, acknowledgements wait only for the write to reach the file (it then
/// survives a crash of the process, not of the machine) and `fdatasync` runs once that many
/// messages are unsynced or that much time has passed, as in Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushPolicy {
    pub interval_messages: Option<u64>,
    pub interval_ms: Option<u64>,
}

impl FlushPolicy {
    /// True when acknowledgements wait for `fdatasync` (the default).
    pub fn sync_before_ack(&self) -> bool {
        self.interval_messages.is_none() && self.interval_ms.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment when the active one would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first append is this old.
    pub segment_ms: i64,
    /// `index.interval.bytes`: log bytes between offset index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`; `None` is Kafka's -1 (keep forever).
    pub retention_ms: Option<i64>,
    /// `retention.bytes`; `None` is Kafka's -1 (no size limit).
    pub retention_bytes: Option<u64>,
    /// `max.message.bytes`: largest record batch accepted (after the broker's framing).
    pub max_message_bytes: usize,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `compression.type`: `None` is `producer` (batches are stored as they came); otherwise
    /// batches in another codec are recompressed on append.
    pub compression: Option<Compression>,
    pub flush: FlushPolicy,
    /// File space reserved ahead of the write position, so that appends rarely change the
    /// file's extent map (a metadata update that would make the write synchronous).
    pub preallocate_bytes: u64,
    /// Recent batches kept in memory per partition to serve tail fetches without disk reads.
    pub tail_cache_bytes: u64,
    /// Largest single direct-I/O write; bounds the DMA buffer one flush holds.
    pub write_chunk_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            retention_ms: Some(168 * 3600 * 1000),
            retention_bytes: None,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            compression: None,
            flush: FlushPolicy::default(),
            preallocate_bytes: 16 << 20,
            tail_cache_bytes: 4 << 20,
            write_chunk_bytes: 1 << 20,
        }
    }
}
