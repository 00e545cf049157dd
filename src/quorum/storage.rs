//! raft-rs's `Storage` for the metadata quorum: its `MemStorage` holds the entries and hard
//! state (made durable by `disk` before raft-rs is told they are), and the snapshot handed to a
//! lagging member is the applied metadata, encoded as the metadata file is.

use std::cell::RefCell;
use std::rc::Rc;

use raft::eraftpb::{Entry, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

pub struct QuorumStorage {
    pub mem: MemStorage,
    /// The applied metadata as a Raft snapshot (data: `metadata::encode_snapshot`), replaced
    /// after every apply.
    pub latest: Rc<RefCell<Snapshot>>,
}

impl Storage for QuorumStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.mem.initial_state()
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        self.mem.entries(low, high, max_size, context)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.mem.term(idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        self.mem.first_index()
    }

    fn last_index(&self) -> raft::Result<u64> {
        self.mem.last_index()
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let latest = self.latest.borrow();
        if latest.get_metadata().index < request_index.max(1) {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(latest.clone())
    }
}

/// raft-rs logs through slog; its lines go to this process's tracing output.
pub fn raft_logger() -> slog::Logger {
    slog::Logger::root(TracingDrain, slog::o!())
}

struct TracingDrain;

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record, values: &slog::OwnedKVList) -> Result<(), slog::Never> {
        let mut fields = KvText(String::new());
        let _ = slog::KV::serialize(&record.kv(), record, &mut fields);
        let _ = slog::KV::serialize(values, record, &mut fields);
        let message = record.msg();
        match record.level() {
            slog::Level::Critical | slog::Level::Error => {
                tracing::error!(target: "raft", "{message}{}", fields.0)
            }
            slog::Level::Warning => tracing::warn!(target: "raft", "{message}{}", fields.0),
            slog::Level::Info => tracing::info!(target: "raft", "{message}{}", fields.0),
            _ => tracing::debug!(target: "raft", "{message}{}", fields.0),
        }
        Ok(())
    }
}

struct KvText(String);

impl slog::Serializer for KvText {
    fn emit_arguments(&mut self, key: slog::Key, value: &std::fmt::Arguments) -> slog::Result {
        use std::fmt::Write;
        let _ = write!(self.0, " {key}={value}");
        Ok(())
    }
}
