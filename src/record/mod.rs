//! Kafka RecordBatch v2 (magic 2): a zero-copy view, validation without decompressing, and the
//! header patches the broker applies when it appends (base offset, leader epoch, LogAppendTime).

mod batch;
mod builder;
pub mod codec;
pub mod control;
mod error;
pub mod filter;
mod records;
mod varint;

pub use batch::{
    declared_batch_size, declared_batch_span, patch_header, split_batches, BatchAttributes,
    BatchIter, Compression, HeaderChanges, PatchedHeader, RecordBatch, TimestampType,
    BATCH_HEADER_LEN, BATCH_OVERHEAD_LEN, MAGIC_V2,
};
pub use builder::{batch_of, BatchBuilder, NewRecord, CONTROL_FLAG, TRANSACTIONAL_FLAG};
pub use control::TxnMarker;
pub use error::RecordError;
pub use records::{
    raw_records, RawRecord, RawRecords, RecordTimestamp, RecordTimestamps, RecordView, RecordViews,
};
