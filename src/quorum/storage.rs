//! raft-rs's `Storage` for the metadata quorum: its `MemStorage` holds the entries and hard
//! state (made durable by `disk` before raft-rs is told they are), and the snapshot handed to a
//! lagging member is the applied metadata, encoded as the metadata file is.

use std::cell::RefCell;
use std::rc::Rc;

use raft::eraftpb::{ConfState, Entry, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use crate::metadata::{encode_view, ClusterMeta, SnapshotView};

/// What has been applied: the metadata and the log position it reflects.
pub struct Applied {
    pub meta: Rc<ClusterMeta>,
    pub index: u64,
    pub term: u64,
}

pub struct QuorumStorage {
    pub mem: MemStorage,
    /// Shared with the quorum's driver, which replaces it after every apply.
    pub applied: Rc<RefCell<Applied>>,
    /// The voters' Raft ids.
    pub voters: Vec<u64>,
}

/// A Raft snapshot's metadata: the log position and the voters then.
pub fn raft_snapshot(index: u64, term: u64, voters: &[u64]) -> Snapshot {
    let mut s = Snapshot::default();
    s.mut_metadata().index = index;
    s.mut_metadata().term = term;
    s.mut_metadata()
        .set_conf_state(ConfState::from((voters.to_vec(), Vec::new())));
    s
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

    /// The applied metadata, encoded now: a member needs a snapshot only when it is too far
    /// behind for entries, which is rare.
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let applied = self.applied.borrow();
        if applied.index < request_index.max(1) {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let mut snapshot = raft_snapshot(applied.index, applied.term, &self.voters);
        snapshot.data = encode_view(SnapshotView {
            meta: &applied.meta,
            index: applied.index,
            term: applied.term,
            voters: &self.voters,
        })
        .into();
        Ok(snapshot)
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
