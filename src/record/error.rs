use crate::ErrorCode;

/// Why a record batch was refused. Each variant carries the offending values so that the log line
/// tells an operator what the client sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record batch truncated: {available} bytes, a batch needs at least {needed}")]
    Truncated { available: usize, needed: usize },
    #[error(
        "record batch length field {batch_length} is invalid (buffer holds {available} bytes)"
    )]
    BadLength { batch_length: i32, available: usize },
    #[error("record batch magic {magic} is not supported: only magic 2 (RecordBatch v2) is")]
    UnsupportedMagic { magic: i8 },
    #[error("record batch CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record batch has record count {count} but last offset delta {last_offset_delta}")]
    InconsistentCount { count: i32, last_offset_delta: i32 },
    #[error("record batch uses unknown compression codec id {codec}")]
    UnknownCompression { codec: u8 },
    #[error("record batch from a client has base offset {base_offset}; it must be 0")]
    NonZeroBaseOffset { base_offset: i64 },
    #[error("produce request carries no record batch")]
    Empty,
    #[error("record batch of {size} bytes exceeds max.message.bytes = {max}")]
    TooLarge { size: usize, max: usize },
    #[error("{codec:?} payload cannot be decompressed: {reason}")]
    BadCompressedPayload {
        codec: super::Compression,
        reason: String,
    },
    #[error("record batch declares {count} records but its records section holds {parsed} well-formed ones")]
    MalformedRecords { count: i32, parsed: usize },
    #[error("compacted topic cannot accept a record without a key (records {batch_indexes:?} of the batch)")]
    KeylessRecordOnCompactedTopic {
        /// Positions in the batch of the records without a key (KIP-467's `batch_index`).
        batch_indexes: Vec<i32>,
    },
    #[error(
        "clients may not write control batches (transaction markers come from the coordinator)"
    )]
    ControlBatchFromClient,
    #[error("{codec:?} payload decompresses to more than {limit} bytes")]
    DecompressedTooLarge {
        codec: super::Compression,
        limit: usize,
    },
}

impl RecordError {
    /// The error code Kafka's broker answers with for the same fault (see `LogValidator` and
    /// `DefaultRecordBatch.ensureValid` in Apache Kafka).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            RecordError::Truncated { .. }
            | RecordError::BadLength { .. }
            | RecordError::CrcMismatch { .. }
            | RecordError::BadCompressedPayload { .. }
            | RecordError::MalformedRecords { .. } => ErrorCode::CorruptMessage,
            RecordError::DecompressedTooLarge { .. } => ErrorCode::MessageTooLarge,
            RecordError::UnsupportedMagic { .. }
            | RecordError::InconsistentCount { .. }
            | RecordError::NonZeroBaseOffset { .. }
            | RecordError::Empty
            | RecordError::ControlBatchFromClient
            | RecordError::KeylessRecordOnCompactedTopic { .. } => ErrorCode::InvalidRecord,
            RecordError::UnknownCompression { .. } => ErrorCode::UnsupportedCompressionType,
            RecordError::TooLarge { .. } => ErrorCode::MessageTooLarge,
        }
    }
}
