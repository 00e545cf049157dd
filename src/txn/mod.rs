//! Transactions (issue 18), Kafka's design: a transaction coordinator per
//! `__transaction_state` partition (the leader of `abs(hash(transactional.id)) % partitions`,
//! placed as group coordinators are), which keeps each transactional id's producer id, epoch
//! and open transaction in that partition (`log_format.rs`), decides every transition apart
//! from I/O (`state.rs`, `coordinator.rs`), and ends transactions with commit or abort markers
//! on their partitions.
//!
//! Built so far, each unit-tested: the coordinator's decisions and `__transaction_state`'s
//! format (here), the markers as control batches (`record::control`), and a partition's open
//! transactions, last stable offset and `.txnindex` entries (`log::transactions`). Not yet
//! wired: InitProducerId still refuses transactional ids, and ApiVersions advertises none of
//! the transaction APIs.

pub mod coordinator;
pub mod log_format;
pub mod state;

pub use coordinator::{Markers, Reply, Step, TxnConfig, TxnCoordinator};
pub use log_format::TRANSACTION_STATE_TOPIC;
pub use state::{TxnMetadata, TxnPartition, TxnState};

/// The `__transaction_state` partition of `transactional_id` (Kafka's `partitionFor`: the
/// same Java string hash as groups use for `__consumer_offsets`).
pub fn state_partition(transactional_id: &str, partitions: usize) -> i32 {
    crate::group::offsets_partition(transactional_id, partitions)
}
