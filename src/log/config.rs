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

/// Kafka's `cleanup.policy`: `delete` (retention by time and size), `compact` (keep the latest
/// record per key), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };

    /// Parses Kafka's list notation (`delete`, `compact`, `compact,delete`, either order).
    pub fn parse(value: &str) -> Option<Self> {
        let mut policy = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for item in value.split(',').map(str::trim) {
            match item {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                _ => return None,
            }
        }
        (policy.delete || policy.compact).then_some(policy)
    }

    pub fn name(self) -> &'static str {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
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
    /// `cleanup.policy`: retention applies under `delete`, the cleaner under `compact`.
    pub cleanup: CleanupPolicy,
    /// `delete.retention.ms`: how long a tombstone (a record with a null value) survives
    /// compaction, so that consumers reading from the beginning see the delete.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: the cleaner runs when uncleaned bytes are at least this share
    /// of the log's sealed bytes.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: segments with records newer than this are not compacted yet.
    pub min_compaction_lag_ms: i64,
    /// `min.insync.replicas`: acks=all writes need at least this many in-sync replicas.
    pub min_insync_replicas: u32,
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
            cleanup: CleanupPolicy::DELETE,
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            min_insync_replicas: 1,
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
