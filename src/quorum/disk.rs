//! The metadata log on disk (`weir-quorum.log` in the log directory): Raft entries and hard
//! states as they are appended, each a frame `[u32 length][u32 CRC32C][u8 kind][protobuf]`.
//! A frame is fsynced before the quorum acts on it (a vote or an append is acknowledged only
//! once durable). The state machine's snapshot is the metadata file (`weir-metadata.fb`, with
//! the log position it reflects); once the log holds more than a bound of entries past it, the
//! file is rewritten with only the entries after the snapshot's retained tail.
//!
//! Blocking file I/O: every function here runs on glommio's blocking pool, never on a shard's
//! reactor thread.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};

use crate::log::LogError;

pub const QUORUM_LOG_FILE: &str = "weir-quorum.log";

const ENTRY: u8 = 1;
const HARD_STATE: u8 = 2;
const FRAME_HEAD: usize = 9;

pub fn quorum_log_path(log_dir: &Path) -> PathBuf {
    log_dir.join(QUORUM_LOG_FILE)
}

/// What the log file held at start: the entries (in append order; a later entry of the same
/// index replaces the earlier one and everything after it) and the latest hard state.
#[derive(Debug, Default)]
pub struct LoadedLog {
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
    /// Bytes after the last whole frame (a write torn by a crash), cut off.
    pub torn_bytes: u64,
}

/// Reads the log, cutting off a torn tail. A missing file is an empty log.
pub fn load(path: &Path) -> Result<LoadedLog, LogError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => file
            .read_to_end(&mut bytes)
            .map_err(|e| LogError::io("read the quorum log", path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LoadedLog::default()),
        Err(e) => return Err(LogError::io("open the quorum log", path, e)),
    };
    let mut loaded = LoadedLog::default();
    let mut at = 0;
    while let Some((kind, payload)) = frame_at(&bytes, at) {
        match kind {
            ENTRY => match Entry::parse_from_bytes(payload) {
                Ok(entry) => {
                    // An entry rewritten after a leader change replaces the uncommitted
                    // suffix it conflicts with.
                    if let Some(first) = loaded.entries.first().map(|e| e.index) {
                        let keep = entry.index.saturating_sub(first) as usize;
                        loaded.entries.truncate(keep);
                    }
                    loaded.entries.push(entry);
                }
                Err(_) => break,
            },
            HARD_STATE => match HardState::parse_from_bytes(payload) {
                Ok(hs) => loaded.hard_state = Some(hs),
                Err(_) => break,
            },
            _ => break,
        }
        at += FRAME_HEAD + payload.len();
    }
    if at < bytes.len() {
        loaded.torn_bytes = (bytes.len() - at) as u64;
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| LogError::io("open the quorum log", path, e))?;
        file.set_len(at as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| LogError::io("cut the quorum log's torn tail", path, e))?;
    }
    Ok(loaded)
}

fn frame_at(bytes: &[u8], at: usize) -> Option<(u8, &[u8])> {
    let head = bytes.get(at..at + FRAME_HEAD)?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let kind = head[8];
    let payload = bytes.get(at + FRAME_HEAD..at + FRAME_HEAD + len)?;
    let mut digest = crate::checksum::crc32c(&[kind]);
    digest = crate::checksum::crc32c_append(digest, payload);
    (digest == crc).then_some((kind, payload))
}

fn put_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let crc = crate::checksum::crc32c_append(crate::checksum::crc32c(&[kind]), payload);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
}

fn frames(entries: &[Entry], hard_state: Option<&HardState>) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        // Encoding a message held in memory fails only on sizes far beyond any entry here.
        if let Ok(bytes) = entry.write_to_bytes() {
            put_frame(&mut out, ENTRY, &bytes);
        }
    }
    if let Some(hs) = hard_state {
        if let Ok(bytes) = hs.write_to_bytes() {
            put_frame(&mut out, HARD_STATE, &bytes);
        }
    }
    out
}

/// The open log file, appended to and fsynced per Raft `Ready`.
pub struct QuorumLog {
    path: PathBuf,
    file: File,
}

impl QuorumLog {
    pub fn open(path: &Path) -> Result<QuorumLog, LogError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| LogError::io("open the quorum log", path, e))?;
        Ok(QuorumLog {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends and fsyncs; returns only once the frames are durable.
    pub fn append(
        &mut self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), LogError> {
        let bytes = frames(entries, hard_state);
        if bytes.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| LogError::io("append to the quorum log", &self.path, e))
    }

    /// Replaces the file with `entries` and `hard_state` (crash-safe: a new file renamed over
    /// the old one), bounding its size after a snapshot.
    pub fn rewrite(&mut self, entries: &[Entry], hard_state: &HardState) -> Result<(), LogError> {
        crate::log::write_file_atomically(&self.path, &frames(entries, Some(hard_state)))?;
        *self = QuorumLog::open(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: vec![index as u8; 3].into(),
            ..Default::default()
        }
    }

    #[test]
    fn appends_survive_reopening_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = quorum_log_path(dir.path());
        let mut log = QuorumLog::open(&path).unwrap();
        let hs = HardState {
            term: 2,
            vote: 3,
            commit: 2,
            ..Default::default()
        };
        log.append(&[entry(1, 1), entry(2, 1), entry(3, 1)], Some(&hs))
            .unwrap();
        // A new leader overwrote index 3 in term 2.
        log.append(&[entry(3, 2)], None).unwrap();
        drop(log);
        let clean_len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[0, 0, 0, 40, 1, 2])
            .unwrap();
        let loaded = load(&path).unwrap();
        let got: Vec<(u64, u64)> = loaded.entries.iter().map(|e| (e.index, e.term)).collect();
        assert_eq!(got, [(1, 1), (2, 1), (3, 2)]);
        assert_eq!(loaded.hard_state.unwrap().vote, 3);
        assert_eq!(loaded.torn_bytes, 6);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), clean_len);

        let mut log = QuorumLog::open(&path).unwrap();
        log.rewrite(&[entry(3, 2)], &hs).unwrap();
        log.append(&[entry(4, 2)], None).unwrap();
        let loaded = load(&path).unwrap();
        let got: Vec<u64> = loaded.entries.iter().map(|e| e.index).collect();
        assert_eq!(got, [3, 4]);
    }
}
