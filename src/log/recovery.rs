//! Bringing a partition's files back to a consistent log on open, and cutting the active
//! segment on truncation. Sealed segments are trusted when their index files pass the sanity
//! check; the active segment (and any segment whose indexes are missing or inconsistent) is
//! scanned batch by batch — length, magic, CRC-32C, offset continuity — and cut at the first
//! batch that fails, with the byte range logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::DmaFile;

use super::clean_close::{CleanClose, CLEAN_SHUTDOWN_FILE};
use super::cleaner;
use super::config::LogConfig;
use super::dir::{
    blocking, parse_segment_file, read_checkpoint, read_txn_index, remove_files, sync_dir,
    write_file_atomically, write_txn_index,
};
use super::epochs::{LeaderEpochCache, LEADER_EPOCH_CHECKPOINT};
use super::error::{IndexError, LogError};
use super::index::{OffsetIndex, TimeIndex};
use super::partition::{ActiveFile, PartitionLog, HIGH_WATERMARK_CHECKPOINT, LOG_START_CHECKPOINT};
use super::producers::ProducerStates;
use super::segment::{
    open_segment_file, scan_segment, truncate_and_sync, ScanItem, Segment, SegmentScanner,
    SegmentState,
};

pub(crate) struct Recovered {
    pub segments: BTreeMap<i64, Segment>,
    pub log_start_checkpoint: Option<i64>,
    /// The high watermark last checkpointed (`None`: a log of a Weir version before
    /// replication).
    pub high_watermark_checkpoint: Option<i64>,
    /// Offsets below have been compacted (0 when the log never was).
    pub cleaner_checkpoint: i64,
    /// Idempotent producers' state from the scanned (active) segment.
    pub producers: ProducerStates,
    /// The leader epoch checkpoint with the epochs found in the scanned batches added (a crash
    /// may have come before a new epoch's checkpoint). Not yet cut to the log's offsets.
    pub leader_epochs: LeaderEpochCache,
    /// Bytes of segment files checked batch by batch (0 after a clean shutdown whose marker
    /// matched and sealed segments whose indexes were intact).
    pub scanned_bytes: u64,
}

struct Listing {
    bases: Vec<i64>,
    log_start_checkpoint: Option<i64>,
    high_watermark_checkpoint: Option<i64>,
    cleaner_checkpoint: i64,
    leader_epochs: LeaderEpochCache,
    /// The producer snapshot taken where the last segment begins.
    snapshot: Option<ProducerStates>,
    /// The marker of a clean close, already removed from the directory.
    clean_close: Option<CleanClose>,
}

/// Lists the partition directory once (creating it) and tidies it: completes a committed
/// compaction swap, removes leftovers of interrupted writes and compactions, index files
/// without a segment and producer snapshots other than the last segment's; reads the
/// checkpoints and that snapshot.
fn list_partition_dir(dir: &Path) -> Result<Listing, LogError> {
    std::fs::create_dir_all(dir).map_err(|e| LogError::io("create directory", dir, e))?;
    cleaner::complete_committed_swap(dir)?;
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    let mut snapshots = Vec::new();
    let mut clean_close = None;
    let entries = std::fs::read_dir(dir).map_err(|e| LogError::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io("list directory", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(base) = parse_segment_file(&name, "log") {
            bases.push(base);
        } else if let Some(base) = parse_segment_file(&name, "index")
            .or_else(|| parse_segment_file(&name, "timeindex"))
            .or_else(|| parse_segment_file(&name, "txnindex"))
        {
            indexes.push((base, entry.path()));
        } else if let Some(offset) = parse_segment_file(&name, "snapshot") {
            snapshots.push((offset, entry.path()));
        } else if name == CLEAN_SHUTDOWN_FILE {
            // Read, then removed before anything is written: after this open, only a new
            // clean close can vouch for the active segment again.
            let bytes = std::fs::read(entry.path())
                .map_err(|e| LogError::io("read file", entry.path(), e))?;
            clean_close = CleanClose::decode(&bytes);
            if clean_close.is_none() {
                tracing::warn!(path = %entry.path().display(), "ignoring a damaged clean-shutdown marker; scanning the active segment");
            }
            std::fs::remove_file(entry.path())
                .map_err(|e| LogError::io("remove file", entry.path(), e))?;
        } else if name.ends_with(".tmp") || cleaner::is_cleaned_file(&name) {
            tracing::warn!(path = %entry.path().display(), "removing leftover of an interrupted write or compaction");
            std::fs::remove_file(entry.path())
                .map_err(|e| LogError::io("remove file", entry.path(), e))?;
        }
    }
    bases.sort_unstable();
    for (base, path) in indexes {
        if bases.binary_search(&base).is_err() {
            tracing::warn!(path = %path.display(), "removing index file whose segment is gone");
            std::fs::remove_file(&path).map_err(|e| LogError::io("remove file", &path, e))?;
        }
    }
    let last_base = bases.last().copied();
    let (current, stale): (Vec<_>, Vec<_>) = snapshots
        .into_iter()
        .partition(|(offset, _)| Some(*offset) == last_base);
    remove_files(&stale.into_iter().map(|(_, path)| path).collect::<Vec<_>>())?;
    let snapshot = match current.first() {
        Some((_, path)) => read_snapshot(path)?,
        None => None,
    };
    Ok(Listing {
        bases,
        log_start_checkpoint: read_checkpoint(&dir.join(LOG_START_CHECKPOINT))?,
        high_watermark_checkpoint: read_checkpoint(&dir.join(HIGH_WATERMARK_CHECKPOINT))?,
        cleaner_checkpoint: read_checkpoint(&dir.join(cleaner::CLEANER_CHECKPOINT))?.unwrap_or(0),
        leader_epochs: read_leader_epochs(&dir.join(LEADER_EPOCH_CHECKPOINT))?,
        snapshot,
        clean_close,
    })
}

/// Reads the leader epoch checkpoint; empty when absent (a log from before leader epochs) or
/// damaged (logged: the scan of the active segment and the next leadership fill it again).
fn read_leader_epochs(path: &Path) -> Result<LeaderEpochCache, LogError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(LeaderEpochCache::decode(&bytes).unwrap_or_else(|| {
            tracing::warn!(path = %path.display(), "ignoring a damaged leader-epoch-checkpoint");
            LeaderEpochCache::default()
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LeaderEpochCache::default()),
        Err(e) => Err(LogError::io("read checkpoint", path, e)),
    }
}

/// A sealed segment's indexes as loaded from its files.
struct LoadedIndexes {
    index: OffsetIndex,
    time_index: TimeIndex,
    aborted: Vec<super::transactions::AbortedTxn>,
}

/// Reads a sealed segment's index files and checks them against the segment.
fn load_indexes(paths: IndexPaths, file_size: u64) -> Result<LoadedIndexes, String> {
    let read = |path: &PathBuf| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    // No `.txnindex` is a segment without aborted transactions; a damaged one is rebuilt.
    let aborted = read_txn_index(&paths.txn_index)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{}: damaged", paths.txn_index.display()))?;
    let index_bytes = read(&paths.index)?;
    let time_bytes = read(&paths.time_index)?;
    let why = |e: IndexError, path: &PathBuf| format!("{}: {e}", path.display());
    let index = OffsetIndex::decode(&index_bytes, paths.base_offset, file_size)
        .map_err(|e| why(e, &paths.index))?;
    let time_index =
        TimeIndex::decode(&time_bytes, paths.base_offset).map_err(|e| why(e, &paths.time_index))?;
    if file_size > 0 && time_index.last().is_none() {
        return Err(format!(
            "{}: empty, but a sealed segment always has a final entry",
            paths.time_index.display()
        ));
    }
    Ok(LoadedIndexes {
        index,
        time_index,
        aborted,
    })
}

/// What the blocking pool needs to load a segment's indexes (a `Segment` holds an `Rc`).
struct IndexPaths {
    base_offset: i64,
    index: PathBuf,
    time_index: PathBuf,
    txn_index: PathBuf,
}

/// Where the idempotent producers' state as of `offset` is kept.
pub(crate) fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    super::dir::segment_file(dir, offset, "snapshot")
}

/// A producer snapshot; `None` when absent or damaged (logged: the state is then rebuilt
/// without it).
fn read_snapshot(path: &Path) -> Result<Option<ProducerStates>, LogError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(ProducerStates::from_snapshot(&bytes).or_else(|| {
            tracing::warn!(path = %path.display(), "ignoring a damaged producer snapshot");
            None
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io("read producer snapshot", path, e)),
    }
}

/// The bytes of the last, partially filled page, which the next direct-I/O write repeats.
pub(crate) async fn read_tail_page(
    file: &DmaFile,
    path: &Path,
    size: u64,
) -> Result<Vec<u8>, LogError> {
    let page_start = size & !4095;
    if page_start == size {
        return Ok(Vec::new());
    }
    let read = file
        .read_at(page_start, (size - page_start) as usize)
        .await
        .map_err(|e| LogError::io("read segment tail", path, e))?;
    Ok(read.to_vec())
}

/// Scans a segment and cuts its file at the end of the last valid batch.
async fn scan_and_cut(
    seg: &mut Segment,
    file: Rc<DmaFile>,
    file_size: u64,
    interval: u64,
    gaps_allowed: bool,
    producers: &mut ProducerStates,
    leader_epochs: Option<&mut LeaderEpochCache>,
) -> Result<bool, LogError> {
    let mut scan = scan_segment(
        file.clone(),
        &seg.log_path,
        seg.base_offset,
        file_size,
        interval,
        gaps_allowed,
        producers,
    )
    .await?;
    let fault = scan.fault.take();
    let valid_end = scan.valid_end;
    if let Some((position, reason)) = &fault {
        tracing::warn!(
            path = %seg.log_path.display(),
            from = position,
            to = file_size,
            %reason,
            "truncating torn or corrupt segment tail: bytes [{position}, {file_size}) removed"
        );
    }
    if valid_end < file_size {
        truncate_and_sync(&file, &seg.log_path, valid_end).await?;
    }
    // Kafka's segment recovery adds each batch's epoch that is newer than the cache's latest.
    if let Some(leader_epochs) = leader_epochs {
        for (epoch, start) in std::mem::take(&mut scan.epoch_starts) {
            if leader_epochs.latest().is_none_or(|l| epoch > l.epoch) {
                leader_epochs.assign(epoch, start);
            }
        }
    }
    seg.apply_scan(scan);
    seg.allocated_bytes = valid_end;
    Ok(fault.is_some())
}

/// Opens every segment of the partition in `dir` and makes the log consistent.
pub(crate) async fn recover(dir: &Path, config: &LogConfig) -> Result<Recovered, LogError> {
    let listing = {
        let dir = dir.to_path_buf();
        blocking(move || list_partition_dir(&dir)).await?
    };
    let interval = config.index_interval_bytes;
    let mut segments = BTreeMap::new();
    let mut producers = ProducerStates::default();
    let mut leader_epochs = listing.leader_epochs;
    let mut snapshot = listing.snapshot;
    let mut clean_close = listing.clean_close;
    let mut scanned_bytes = 0;
    let mut bases = listing.bases.into_iter().peekable();
    while let Some(base) = bases.next() {
        let mut seg = Segment::new(dir, base);
        let file = Rc::new(open_segment_file(&seg.log_path).await?);
        let file_size = file
            .file_size()
            .await
            .map_err(|e| LogError::io("stat segment", &seg.log_path, e))?;
        seg.file = Some(file.clone());
        let is_last = bases.peek().is_none();
        if !is_last {
            let paths = IndexPaths {
                base_offset: base,
                index: seg.index_path.clone(),
                time_index: seg.time_index_path.clone(),
                txn_index: seg.txn_index_path.clone(),
            };
            let loaded = blocking(move || load_indexes(paths, file_size)).await;
            match loaded {
                Ok(LoadedIndexes {
                    index,
                    time_index,
                    aborted,
                }) => {
                    seg.size_bytes = file_size;
                    seg.written_bytes = file_size;
                    seg.synced_bytes = file_size;
                    seg.allocated_bytes = file_size;
                    if let Some(last) = time_index.last() {
                        seg.max_timestamp_ms = last.timestamp_ms;
                        seg.offset_of_max_timestamp = last.offset;
                    }
                    seg.index = index;
                    seg.time_index = time_index;
                    seg.aborted = aborted;
                    seg.state = SegmentState::Sealed;
                    segments.insert(base, seg);
                    continue;
                }
                Err(reason) => tracing::warn!(
                    path = %seg.log_path.display(), %reason,
                    "segment index missing or inconsistent; rebuilding it by scanning the segment"
                ),
            }
        }
        if is_last {
            // Only the last segment can match the marker: earlier ones (sealed, with damaged
            // indexes) must not use it up.
            if let Some(clean) = clean_close.take() {
                // The clean close wrote the active segment's transaction index too.
                let path = seg.txn_index_path.clone();
                match blocking(move || read_txn_index(&path)).await? {
                    None => {
                        tracing::warn!(path = %seg.txn_index_path.display(), "damaged transaction index of the active segment; scanning it")
                    }
                    Some(aborted) => {
                        if restore_clean_close(&clean, &mut seg, file_size, &mut producers) {
                            seg.aborted = aborted;
                            seg.state = SegmentState::Active;
                            seg.tail_page =
                                read_tail_page(&file, &seg.log_path, seg.size_bytes).await?;
                            segments.insert(base, seg);
                            continue;
                        }
                    }
                }
            }
            // The producers' state up to this segment; without a snapshot, what the scans of
            // earlier segments (those with missing indexes) found is the best there is.
            if let Some(snapshot) = snapshot.take() {
                producers = snapshot;
            }
        }
        // Compaction leaves offset gaps between batches of the segments it rewrote.
        let gaps_allowed = base < listing.cleaner_checkpoint;
        scanned_bytes += file_size;
        let corrupt = scan_and_cut(
            &mut seg,
            file.clone(),
            file_size,
            interval,
            gaps_allowed,
            &mut producers,
            Some(&mut leader_epochs),
        )
        .await?;
        if !is_last && corrupt {
            // Offsets after a corrupt batch cannot be trusted to continue: like Kafka's
            // recovery, drop what follows it so that the log stays contiguous.
            let later: Vec<i64> = bases.by_ref().collect();
            tracing::error!(
                path = %seg.log_path.display(), dropped_segments = ?later,
                "corruption inside a sealed segment: deleting the segments after it"
            );
            delete_later_segments(dir, &later).await?;
        }
        if bases.peek().is_none() {
            seg.state = SegmentState::Active;
            seg.tail_page = read_tail_page(&file, &seg.log_path, seg.size_bytes).await?;
            remove_index_files(&seg).await?;
        } else {
            seg.time_index
                .maybe_append(seg.max_timestamp_ms, seg.offset_of_max_timestamp);
            let files = [
                (seg.index_path.clone(), seg.index.encode()),
                (seg.time_index_path.clone(), seg.time_index.encode()),
            ];
            let txn_index = (seg.txn_index_path.clone(), seg.aborted.clone());
            blocking(move || {
                files
                    .iter()
                    .try_for_each(|(p, b)| write_file_atomically(p, b))?;
                write_txn_index(&txn_index.0, &txn_index.1)
            })
            .await?;
            seg.state = SegmentState::Sealed;
        }
        segments.insert(base, seg);
    }
    // A sealed segment's offsets end where the next segment's begin (an empty or compacted one
    // holds no batch that says so).
    let bases: Vec<i64> = segments.keys().copied().collect();
    for pair in bases.windows(2) {
        if let Some(seg) = segments.get_mut(&pair[0]) {
            if seg.state == SegmentState::Sealed && seg.next_offset < pair[1] {
                seg.next_offset = pair[1];
            }
        }
    }
    Ok(Recovered {
        segments,
        log_start_checkpoint: listing.log_start_checkpoint,
        high_watermark_checkpoint: listing.high_watermark_checkpoint,
        cleaner_checkpoint: listing.cleaner_checkpoint,
        producers,
        leader_epochs,
        scanned_bytes,
    })
}

/// The active segment and producers as a clean close left them; false (logged) when the
/// marker does not describe this segment, and the segment must be scanned.
fn restore_clean_close(
    clean: &CleanClose,
    seg: &mut Segment,
    file_size: u64,
    producers: &mut ProducerStates,
) -> bool {
    let restored = clean.restore(seg, file_size).and_then(|()| {
        ProducerStates::from_snapshot(&clean.producers)
            .ok_or_else(|| "damaged producer state".to_string())
    });
    match restored {
        Ok(states) => {
            *producers = states;
            tracing::debug!(path = %seg.log_path.display(), "clean shutdown: active segment restored without a scan");
            true
        }
        Err(reason) => {
            tracing::info!(path = %seg.log_path.display(), %reason, "clean-shutdown marker does not match; scanning the active segment");
            false
        }
    }
}

async fn delete_later_segments(dir: &Path, bases: &[i64]) -> Result<(), LogError> {
    let paths: Vec<PathBuf> = bases
        .iter()
        .flat_map(|b| Segment::new(dir, *b).paths())
        .collect();
    let dir = dir.to_path_buf();
    blocking(move || {
        remove_files(&paths)?;
        sync_dir(&dir)
    })
    .await
}

/// The active segment keeps its indexes in memory; stale files from an earlier seal would be
/// trusted on the next start if they stayed.
async fn remove_index_files(seg: &Segment) -> Result<(), LogError> {
    let paths = [
        seg.index_path.clone(),
        seg.time_index_path.clone(),
        seg.txn_index_path.clone(),
    ];
    blocking(move || remove_files(&paths)).await
}

/// Cuts the last segment before the batch that holds `offset`; returns the new log end offset.
/// The caller holds the log's I/O lock and has written everything pending.
pub(crate) async fn truncate_active(log: &PartitionLog, offset: i64) -> Result<i64, LogError> {
    let interval = log.index_interval_bytes();
    let ActiveFile {
        base,
        file,
        path,
        scan_from: start,
        written: end,
    } = match log.active_file(offset) {
        Ok(active) => active,
        Err(next_offset) => return Ok(next_offset),
    };
    let mut scanner = SegmentScanner::new(file.clone(), path.clone(), start, end, 1 << 20);
    let cut = loop {
        match scanner.next().await? {
            ScanItem::Batch { position, batch } if batch.last_offset() >= offset => break position,
            ScanItem::Batch { .. } => {}
            ScanItem::End | ScanItem::Fault { .. } => break scanner.position(),
        }
    };
    truncate_and_sync(&file, &path, cut).await?;
    let mut seg = Segment::new(log.dir(), base);
    seg.file = Some(file.clone());
    // The producer state follows the truncated log (batches cut away are not duplicates).
    let snapshot = snapshot_path(log.dir(), base);
    let mut producers = blocking(move || read_snapshot(&snapshot))
        .await?
        .unwrap_or_default();
    let gaps_allowed = base < log.cleaner_checkpoint();
    scan_and_cut(
        &mut seg,
        file.clone(),
        cut,
        interval,
        gaps_allowed,
        &mut producers,
        // The log's own cache is cut by the caller; what this rescan finds is already in it.
        None,
    )
    .await?;
    log.replace_producer_states(producers);
    seg.tail_page = read_tail_page(&file, &path, seg.size_bytes).await?;
    remove_index_files(&seg).await?;
    seg.first_append_ms = Some(log.now_ms());
    let new_end = seg.next_offset;
    log.put_segment(seg);
    Ok(new_end)
}
