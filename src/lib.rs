//! Weir: a Kafka-compatible streaming log, thread-per-core on io_uring.
//!
//! The public surface is small on purpose: the record batch view, the partition log and the
//! Kafka error codes they map to. See `DESIGN.md` in the shared folder for the module map.

pub mod alloc;
pub mod checksum;
pub mod clock;
pub mod config;
pub mod error_code;
pub mod group;
pub mod log;
pub mod metadata;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod quorum;
pub mod record;
pub mod replication;
pub mod schema_fields;
pub mod security;
pub mod shard;
#[cfg(feature = "tools")]
pub mod tools;
pub mod txn;

pub use error_code::ErrorCode;
