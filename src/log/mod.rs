//! The partition log: Kafka's on-disk layout on direct-I/O segment files, with group commit,
//! crash recovery and retention. One `PartitionLog` per partition, owned by one shard.

mod clean_close;
mod cleaner;
mod config;
mod dir;
pub mod epochs;
mod error;
mod fifo_lock;
mod index;
mod notify;
mod partition;
mod producers;
mod read_ahead;
mod recovery;
mod retention;
mod segment;
mod tail;
pub mod transactions;

pub use cleaner::{clean, CleanOptions, CleanOutcome};
pub use config::{CleanupPolicy, FlushPolicy, LogConfig};
pub use dir::LogDir;
pub(crate) use dir::{blocking, write_file_atomically};
pub use error::{IndexError, LogError};
pub use index::{OffsetIndex, OffsetIndexEntry, TimeIndex, TimeIndexEntry};
pub use partition::{
    AppendInfo, Durability, FetchSource, LogIoStats, PartitionLog, ReadBatches, ReplicaRole,
    RetentionOutcome, TimestampOffset, NO_EPOCH,
};
pub use read_ahead::{shard_read_slices_leaked, ReadAheadConfig, ReadAheadStats};
