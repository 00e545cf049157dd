//! The data directory (`log.dirs`): Kafka's layout, start-up of direct I/O on its device, and the
//! small blocking file operations that must leave the reactor thread.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::OpenOptions;

use super::error::LogError;
use super::read_ahead::{ReadAhead, ReadAheadConfig, ReadAheadStats};

const PROBE_FILE: &str = ".weir-io-probe";
const PROBE_BYTES: usize = 4096;

/// A data directory that is ready for direct I/O on this executor thread.
///
/// glommio decides once per device and thread whether polled I/O works, by reading from the
/// first DMA file it opens there. If that file is empty the read "succeeds", polled I/O is wrongly
/// enabled, and later direct reads fail with EOPNOTSUPP (os error 95). Opening a non-empty probe
/// file first makes the decision on real data; every `PartitionLog` is opened through a `LogDir`
/// so that this always happens first.
#[derive(Debug, Clone)]
pub struct LogDir {
    path: PathBuf,
    /// This shard's read-ahead, shared by the partitions opened through this handle.
    read_ahead: Rc<ReadAhead>,
}

impl LogDir {
    /// Opens the directory with the default read-ahead settings.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, LogError> {
        Self::open_with(path, ReadAheadConfig::default()).await
    }

    pub async fn open_with(
        path: impl Into<PathBuf>,
        read_ahead: ReadAheadConfig,
    ) -> Result<Self, LogError> {
        let path = path.into();
        let probe_path = path.join(PROBE_FILE);
        let dir = path.clone();
        let probe = probe_path.clone();
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| LogError::io("create directory", &dir, e))?;
            // Every shard opens the directory at the same time: the probe must never be seen
            // empty or short, so it is written under a private name and renamed into place.
            if std::fs::metadata(&probe).is_ok_and(|m| m.len() == PROBE_BYTES as u64) {
                return Ok(());
            }
            let private = dir.join(format!(
                "{PROBE_FILE}.{}.{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::write(&private, [0xA5u8; PROBE_BYTES])
                .and_then(|()| std::fs::rename(&private, &probe))
                .map_err(|e| LogError::io("write probe file", &probe, e))
        })
        .await?;
        let file = OpenOptions::new()
            .read(true)
            .dma_open(&probe_path)
            .await
            .map_err(|e| LogError::io("open probe file", &probe_path, e))?;
        let read = file
            .read_at(0, PROBE_BYTES)
            .await
            .map_err(|e| LogError::io("read probe file", &probe_path, e))?;
        assert_eq!(read.len(), PROBE_BYTES, "probe file was just written whole");
        file.close()
            .await
            .map_err(|e| LogError::io("close probe file", &probe_path, e))?;
        Ok(Self {
            path,
            read_ahead: Rc::new(ReadAhead::new(read_ahead)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn read_ahead(&self) -> Rc<ReadAhead> {
        self.read_ahead.clone()
    }

    /// This shard's read-ahead figures (`/metrics`).
    pub fn read_ahead_stats(&self) -> ReadAheadStats {
        self.read_ahead.stats()
    }

    /// `<log.dirs>/<topic>-<partition>`, Kafka's partition directory.
    pub fn partition_path(&self, topic: &str, partition: i32) -> PathBuf {
        self.path.join(format!("{topic}-{partition}"))
    }
}

/// `00000000000000000042.log` and friends: the 20-digit base offset Kafka names files by.
pub(crate) fn segment_file(dir: &Path, base_offset: i64, extension: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}"))
}

/// The base offset in a segment file name, if it is one of ours with `extension`.
pub(crate) fn parse_segment_file(name: &str, extension: &str) -> Option<i64> {
    let stem = name.strip_suffix(extension)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Runs blocking file-system work (directory listing, small metadata files, unlinks) on glommio's
/// blocking thread pool, so the shard's reactor thread never waits on the disk.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    glommio::executor().spawn_blocking(work).await
}

/// Writes `bytes` to `path` crash-safely: a temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| LogError::io("create file", &tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_data())
        .map_err(|e| LogError::io("write file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LogError::io("rename file", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Writes a segment's transaction index (`.txnindex`), or removes it when the segment has no
/// aborted transaction: most segments never see one, and a missing file means none.
pub(crate) fn write_txn_index(
    path: &Path,
    entries: &[super::transactions::AbortedTxn],
) -> Result<(), LogError> {
    if entries.is_empty() {
        return remove_files(&[path.to_path_buf()]);
    }
    write_file_atomically(path, &super::transactions::AbortedTxn::encode_all(entries))
}

/// Reads a segment's transaction index: empty when absent, `None` when damaged.
pub(crate) fn read_txn_index(
    path: &Path,
) -> Result<Option<Vec<super::transactions::AbortedTxn>>, LogError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(super::transactions::AbortedTxn::decode_all(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(Vec::new())),
        Err(e) => Err(LogError::io("read transaction index", path, e)),
    }
}

/// Writes an offset checkpoint (`log-start-offset`, `cleaner-offset-checkpoint`):
/// `0\n<offset>\n`, a version line, then the offset, as Kafka's checkpoint files begin.
pub(crate) fn write_checkpoint(path: &Path, offset: i64) -> Result<(), LogError> {
    write_file_atomically(path, format!("0\n{offset}\n").as_bytes())
}

/// Reads an offset checkpoint; `None` when absent, or unreadable (logged).
pub(crate) fn read_checkpoint(path: &Path) -> Result<Option<i64>, LogError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(std::str::from_utf8(&bytes)
            .ok()
            .and_then(parse_checkpoint)
            .or_else(|| {
                tracing::warn!(path = %path.display(), "ignoring an unreadable offset checkpoint");
                None
            })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io("read checkpoint", path, e)),
    }
}

fn parse_checkpoint(text: &str) -> Option<i64> {
    let mut lines = text.lines();
    if lines.next()? != "0" {
        return None;
    }
    lines.next()?.trim().parse().ok().filter(|o: &i64| *o >= 0)
}

/// Unlinks `paths`; a file already gone is not an error (a delete interrupted by a crash is
/// finished on the next start).
pub(crate) fn remove_files(paths: &[PathBuf]) -> Result<(), LogError> {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogError::io("remove file", path, e)),
        }
    }
    Ok(())
}

/// Makes a directory's entries (new, renamed or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io("sync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_parse_only_when_whole() {
        assert_eq!(parse_checkpoint("0\n42\n"), Some(42));
        assert_eq!(parse_checkpoint("1\n42\n"), None);
        assert_eq!(parse_checkpoint("0\n-1\n"), None);
        assert_eq!(parse_checkpoint("0\n"), None);
    }

    #[test]
    fn segment_names_round_trip() {
        let path = segment_file(Path::new("/d"), 42, "log");
        assert_eq!(path, Path::new("/d/00000000000000000042.log"));
        assert_eq!(
            parse_segment_file("00000000000000000042.log", "log"),
            Some(42)
        );
        assert_eq!(
            parse_segment_file("00000000000000000042.index", "log"),
            None
        );
        assert_eq!(parse_segment_file("0000000000000000042.log", "log"), None);
        assert_eq!(parse_segment_file("0000000000000000004x.log", "log"), None);
    }
}
