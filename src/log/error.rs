use std::io;
use std::path::PathBuf;

use crate::record::RecordError;
use crate::ErrorCode;

/// Why an index file could not be trusted; the segment is then rescanned and the index rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("file length {len} is not a whole number of entries")]
    PartialEntry { len: usize },
    #[error("entry {entry} (offset {offset}, position {position}) does not increase or lies past the segment end")]
    BadEntry {
        entry: usize,
        offset: i64,
        position: u64,
    },
}

/// Errors of the partition log, each convertible to the Kafka error code a client expects.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "short write to {path} at position {position}: {written} of {expected} bytes (disk full?)"
    )]
    ShortWrite {
        path: PathBuf,
        position: u64,
        written: usize,
        expected: usize,
    },
    #[error("{path}: corrupt data at byte {position}, refusing to serve it: {reason}")]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Sequence(#[from] super::producers::SequenceError),
    #[error("a produce request mixes retried and new batches of producer {producer_id}")]
    MixedDuplicate { producer_id: i64 },
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("{path}: not a partition directory name (expected <topic>-<partition>)")]
    BadPartitionDir { path: PathBuf },
    #[error("partition log {path} is closed")]
    Closed { path: PathBuf },
    #[error("a replicated batch starts at offset {got}, but this log ends at {expected}")]
    ReplicaOffsetMismatch { expected: i64, got: i64 },
    /// A fetch answer from a leader this log no longer follows in that leader epoch: it
    /// became leader, or follows another broker or epoch, while the fetch was out.
    #[error("a fetch answer from broker {leader} in leader epoch {leader_epoch}, which this log no longer follows")]
    StaleFetch { leader: i32, leader_epoch: i32 },
}

impl LogError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: impl Into<io::Error>,
    ) -> Self {
        LogError::Io {
            op,
            path: path.into(),
            source: source.into(),
        }
    }

    /// The code a Kafka client gets for this failure.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            LogError::Record(err) => err.error_code(),
            LogError::Sequence(err) => err.error_code(),
            LogError::MixedDuplicate { .. } => ErrorCode::DuplicateSequenceNumber,
            LogError::OffsetOutOfRange { .. } | LogError::ReplicaOffsetMismatch { .. } => {
                ErrorCode::OffsetOutOfRange
            }
            LogError::StaleFetch { .. } => ErrorCode::NotLeaderOrFollower,
            LogError::Io { .. }
            | LogError::ShortWrite { .. }
            | LogError::Corrupt { .. }
            | LogError::BadPartitionDir { .. }
            | LogError::Closed { .. } => ErrorCode::KafkaStorageError,
        }
    }
}
