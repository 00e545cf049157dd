//! Topic and partition registry: the model every shard reads, and its durable file.
//!
//! Changes are made in one place (the controller shard, see `shard::controller`), written to
//! `weir-metadata.fb` with an atomic replace, and then sent to every shard as a new immutable
//! snapshot.

mod codec;
mod model;

use std::path::{Path, PathBuf};

pub use codec::{decode, encode, DecodeError};
pub use model::{
    is_internal_topic, place_partition, validate_topic_name, ClusterMeta, PartitionMeta, TopicMeta,
};

use crate::log::LogError;

/// The metadata file's name inside the log directory.
pub const METADATA_FILE: &str = "weir-metadata.fb";

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{path}: {source}")]
    Decode {
        path: PathBuf,
        #[source]
        source: DecodeError,
    },
    #[error(transparent)]
    Log(#[from] LogError),
}

pub fn metadata_path(log_dir: &Path) -> PathBuf {
    log_dir.join(METADATA_FILE)
}

/// Reads the metadata file; a missing file is an empty cluster (first start). Blocking: call it
/// before the shards start or through `spawn_blocking`.
pub fn load(log_dir: &Path) -> Result<ClusterMeta, MetadataError> {
    let path = metadata_path(log_dir);
    match std::fs::read(&path) {
        Ok(bytes) => decode(&bytes).map_err(|source| MetadataError::Decode { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClusterMeta::default()),
        Err(e) => Err(LogError::io("read metadata", &path, e).into()),
    }
}

/// Replaces the metadata file atomically and durably. Blocking, as [`load`].
pub fn store(log_dir: &Path, meta: &ClusterMeta) -> Result<(), MetadataError> {
    crate::log::write_file_atomically(&metadata_path(log_dir), &encode(meta))?;
    Ok(())
}
