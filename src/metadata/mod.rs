//! Topic and partition registry: the model every shard reads, and its durable file.
//!
//! Changes are made in one place (the controller shard, see `shard::controller`), written to
//! `weir-metadata.fb` with an atomic replace, and then sent to every shard as a new immutable
//! snapshot.

pub mod alter_partition;
pub mod assignment;
pub mod bootstrap;
mod codec;
pub mod controller;
pub mod election;
pub mod liveness;
pub mod model;
pub mod record_codec;
pub mod records;
#[cfg(test)]
mod simulation;

use std::path::{Path, PathBuf};

pub use codec::{
    decode, decode_snapshot, encode, encode_snapshot, encode_view, DecodeError, QuorumSnapshot,
    SnapshotView,
};
pub use model::{
    is_internal_topic, place_partition, validate_topic_name, BrokerMeta, ClusterMeta, Endpoint,
    PartitionMeta, TopicMeta, NO_LEADER,
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

/// Where the metadata a broker starts with came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataSource {
    /// The metadata file (or nothing yet: a first start).
    Current,
    /// The metadata file was damaged or missing; the copy kept before its last change was used.
    Previous { reason: String },
    /// Neither file could be used; topics were rebuilt from the partition directories.
    Rebuilt { reason: String },
}

/// The metadata file, or when it is damaged the previous copy, or when that is damaged too an
/// empty registry to be rebuilt from the partition directories (`adopt_partition_dirs`); a
/// first start finds neither file. With it, the metadata log position and voters the file
/// reflects (zero and none for a file from before the quorum, and for a rebuilt registry).
/// Read errors other than a missing file are returned: the broker does not start on a disk it
/// cannot read. Blocking: call it before the shards start.
pub fn load_snapshot_or_recover(
    log_dir: &Path,
) -> Result<(QuorumSnapshot, MetadataSource), MetadataError> {
    let current = metadata_path(log_dir);
    let previous = previous_path(log_dir);
    let read = |path: &Path| match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MetadataError::from(LogError::io("read metadata", path, e))),
    };
    let current_problem = match read(&current)? {
        Some(bytes) => match decode_snapshot(&bytes) {
            Ok(snapshot) => return Ok((snapshot, MetadataSource::Current)),
            Err(e) => format!("{}: {e}", current.display()),
        },
        None if read(&previous)?.is_none() => {
            return Ok((QuorumSnapshot::default(), MetadataSource::Current))
        }
        None => format!("{} is missing", current.display()),
    };
    match read(&previous)?.map(|bytes| decode_snapshot(&bytes)) {
        Some(Ok(snapshot)) => Ok((
            snapshot,
            MetadataSource::Previous {
                reason: current_problem,
            },
        )),
        Some(Err(e)) => Ok((
            QuorumSnapshot::default(),
            MetadataSource::Rebuilt {
                reason: format!("{current_problem}; {}: {e}", previous.display()),
            },
        )),
        None => Ok((
            QuorumSnapshot::default(),
            MetadataSource::Rebuilt {
                reason: format!("{current_problem}; no previous copy"),
            },
        )),
    }
}

/// Adds to `meta` every partition directory (`<topic>-<n>`) it does not know, with the broker's
/// default topic configs and a new topic id; returns the topics changed. After a metadata
/// fallback this keeps data that the metadata in use no longer lists.
pub fn adopt_partition_dirs(log_dir: &Path, meta: &mut ClusterMeta, broker_id: i32) -> Vec<String> {
    let mut found: std::collections::BTreeMap<String, i32> = Default::default();
    for (topic, partition) in partition_dirs(log_dir) {
        let highest = found.entry(topic).or_insert(partition);
        *highest = (*highest).max(partition);
    }
    let mut adopted = Vec::new();
    for (topic, highest) in found {
        let entry = meta
            .topics
            .entry(topic.clone())
            .or_insert_with(|| TopicMeta {
                name: topic.clone(),
                id: uuid::Uuid::new_v4(),
                partitions: Vec::new(),
                configs: Default::default(),
            });
        let wanted = (highest + 1) as usize;
        if entry.partitions.len() < wanted {
            entry
                .partitions
                .resize(wanted, PartitionMeta::single_replica(broker_id));
            adopted.push(topic);
        }
    }
    adopted
}

/// The partition directories under `log_dir`: (topic, partition).
pub fn partition_dirs(log_dir: &Path) -> Vec<(String, i32)> {
    let Ok(entries) = std::fs::read_dir(log_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let (topic, partition) = name.rsplit_once('-')?;
            let partition = partition.parse::<i32>().ok().filter(|p| *p >= 0)?;
            validate_topic_name(topic).ok()?;
            Some((topic.to_string(), partition))
        })
        .collect()
}

fn previous_path(log_dir: &Path) -> PathBuf {
    log_dir.join(format!("{METADATA_FILE}.previous"))
}

/// Replaces the metadata file atomically and durably with the metadata as of a metadata log
/// position (the quorum's snapshot). Blocking.
pub fn store_snapshot(log_dir: &Path, snapshot: &QuorumSnapshot) -> Result<(), MetadataError> {
    store_encoded(log_dir, &encode_snapshot(snapshot), None)
}

/// [`store_snapshot`] of a snapshot already encoded (`encode_view`, or as the quorum leader
/// sent it). The current file, if it is sound, is kept first as the previous copy: a file
/// damaged later (by the disk, or by hand) costs at most the last change. `current`: the
/// file's bytes as the caller last wrote them, which spares reading and checking them again.
pub fn store_encoded(
    log_dir: &Path,
    encoded: &[u8],
    current: Option<&[u8]>,
) -> Result<(), MetadataError> {
    let path = metadata_path(log_dir);
    let read;
    let sound = match current {
        Some(bytes) => Some(bytes),
        None => {
            read = std::fs::read(&path).ok();
            read.as_deref().filter(|bytes| decode(bytes).is_ok())
        }
    };
    if let Some(bytes) = sound {
        crate::log::write_file_atomically(&previous_path(log_dir), bytes)?;
    }
    crate::log::write_file_atomically(&path, encoded)?;
    Ok(())
}
