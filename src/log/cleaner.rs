//! Log compaction (Kafka's log cleaner) for `cleanup.policy=compact`: keep the latest record of
//! every key, drop tombstones once `delete.retention.ms` has passed, never touch the active
//! segment.
//!
//! A pass over one partition:
//! 1. Plan from a snapshot: the sealed segments (all but the active one), the part of them not
//!    cleaned before ("dirty", from the cleaner checkpoint on), and whether the dirty share reaches
//!    `min.cleanable.dirty.ratio`.
//! 2. Map every key of the dirty segments to its latest offset, within
//!    `log.cleaner.dedupe.buffer.size`; the segments mapped end the range cleaned this pass.
//! 3. Rewrite the segments of that range in groups that fit one segment (`segment.bytes`), so
//!    that small cleaned segments merge. Each group is written to `<base>.log.cleaned` without
//!    the log's I/O lock: sealed segments never change, and produce and fetch go on meanwhile.
//! 4. Swap each group in under the I/O lock, crash-safely: the cleaner checkpoint first, then a
//!    swap manifest naming the replaced segments (the commit point), then the old files removed
//!    and the cleaned file renamed over the first of them, then the manifest removed. On start,
//!    [`complete_committed_swap`] completes a swap whose manifest exists and the directory
//!    listing removes cleaned files whose swap never committed; missing index files are rebuilt
//!    by recovery. A crash at
//!    any step leaves either the old segments or the new one, never neither.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use futures_lite::AsyncWriteExt;
use glommio::io::DmaStreamWriterBuilder;

use super::dir::{
    blocking, remove_files, segment_file, sync_dir, write_checkpoint, write_file_atomically,
    write_txn_index,
};
use super::error::LogError;
use super::partition::{PartitionLog, SealedSegment};
use super::segment::{
    create_segment_file, open_segment_file, truncate_and_sync, Segment, SegmentScanner,
    SegmentState,
};
use super::transactions::AbortedTxn;
use crate::record::filter::{filter_batch, with_records, Filtered};
use crate::record::RecordBatch;

/// Everything below this offset has been through the cleaner (Kafka's
/// `cleaner-offset-checkpoint`, per partition here). Recovery allows offset gaps below it.
pub(crate) const CLEANER_CHECKPOINT: &str = "cleaner-offset-checkpoint";
/// Names the segments a committed swap replaces, until the swap is complete.
const SWAP_MANIFEST: &str = "cleaner-swap";
const CLEANED_SUFFIX: &str = "cleaned";
/// Per map entry beyond the key bytes: the offset, the hash table's slot and the Vec header.
const MAP_ENTRY_OVERHEAD: usize = 48;

/// Knobs of a pass that are the shard's, not the topic's.
#[derive(Debug, Clone, Copy)]
pub struct CleanOptions {
    /// `log.cleaner.dedupe.buffer.size`
    pub dedupe_buffer_bytes: usize,
    /// Stop right after the first swap manifest is written, as a crash there would (tests).
    pub(crate) stop_after_manifest: bool,
}

impl CleanOptions {
    pub fn new(dedupe_buffer_bytes: usize) -> Self {
        CleanOptions {
            dedupe_buffer_bytes,
            stop_after_manifest: false,
        }
    }
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanOutcome {
    /// Sealed segments read and rewritten.
    pub segments_cleaned: usize,
    /// Segments they were merged into.
    pub segments_written: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
    /// The new cleaner checkpoint.
    pub cleaned_up_to: i64,
}

/// The cleaned output of one group of segments.
struct Cleaned {
    segment: Segment,
    replaced: Vec<i64>,
    records_removed: u64,
}

/// Completes a swap whose manifest a crash left behind (or drops a damaged manifest, keeping
/// the old segments). Runs on the blocking pool before the partition directory is listed; the
/// listing then removes `.cleaned` files of swaps that never committed ([`is_cleaned_file`]).
pub(crate) fn complete_committed_swap(dir: &Path) -> Result<(), LogError> {
    let manifest = dir.join(SWAP_MANIFEST);
    match std::fs::read_to_string(&manifest) {
        Ok(text) => match parse_manifest(&text) {
            Some(replaced) => {
                tracing::warn!(dir = %dir.display(), segments = ?replaced, "completing an interrupted compaction swap");
                apply_swap(dir, &replaced)?;
            }
            None => {
                // Written atomically, so unreadable means damaged on disk: keep the old
                // segments (nothing was removed before the manifest was complete).
                tracing::error!(path = %manifest.display(), "ignoring an unreadable compaction swap manifest");
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LogError::io("read swap manifest", &manifest, e)),
    }
    remove_files(std::slice::from_ref(&manifest))?;
    sync_dir(dir)
}

/// The output of a compaction pass that has not been swapped in.
pub(crate) fn is_cleaned_file(name: &str) -> bool {
    name.ends_with(CLEANED_SUFFIX)
}

fn manifest_text(replaced: &[i64]) -> String {
    let bases: Vec<String> = replaced.iter().map(i64::to_string).collect();
    format!("0\n{}\n", bases.join(" "))
}

fn parse_manifest(text: &str) -> Option<Vec<i64>> {
    let mut lines = text.lines();
    if lines.next()? != "0" {
        return None;
    }
    let bases: Vec<i64> = lines
        .next()?
        .split_whitespace()
        .map(|b| b.parse().ok())
        .collect::<Option<_>>()?;
    (!bases.is_empty()).then_some(bases)
}

fn cleaned_path(dir: &Path, base: i64) -> PathBuf {
    segment_file(dir, base, &format!("log.{CLEANED_SUFFIX}"))
}

/// The part of a swap after its commit point; idempotent, so recovery can run it again. The
/// cleaned file takes the name of the first replaced segment.
fn apply_swap(dir: &Path, replaced: &[i64]) -> Result<(), LogError> {
    let first = replaced[0];
    let mut doomed = Vec::new();
    for &base in replaced {
        let seg = Segment::new(dir, base);
        doomed.push(seg.index_path);
        doomed.push(seg.time_index_path);
        doomed.push(seg.txn_index_path);
        if base != first {
            doomed.push(seg.log_path);
        }
    }
    remove_files(&doomed)?;
    let cleaned = cleaned_path(dir, first);
    if cleaned.exists() {
        let target = segment_file(dir, first, "log");
        std::fs::rename(&cleaned, &target).map_err(|e| LogError::io("rename file", &target, e))?;
    }
    sync_dir(dir)
}

/// One cleaning pass over `log`; `None` when it is not compacted or nothing is due.
pub async fn clean(
    log: &PartitionLog,
    options: CleanOptions,
) -> Result<Option<CleanOutcome>, LogError> {
    let config = log.config();
    if !config.cleanup.compact {
        return Ok(None);
    }
    let now_ms = log.now_ms();
    let Some((inputs, checkpoint)) = log.cleanable_segments(config.min_compaction_lag_ms, now_ms)
    else {
        return Ok(None);
    };
    let total: u64 = inputs.iter().map(|i| i.size).sum();
    let dirty: u64 = inputs
        .iter()
        .filter(|i| i.base >= checkpoint)
        .map(|i| i.size)
        .sum();
    if dirty == 0 || (dirty as f64) < config.min_cleanable_dirty_ratio * total as f64 {
        return Ok(None);
    }
    let limit = config.max_message_bytes.max(1 << 20) * 4;
    let first_base = inputs[0].base;
    let last_end = inputs[inputs.len() - 1].end;
    let transactions = Transactions {
        aborted: log.aborted_between(first_base, last_end),
    };
    let (latest, map_end) =
        build_offset_map(&inputs, checkpoint, options, limit, &transactions).await?;
    let range: Vec<SealedSegment> = inputs.into_iter().filter(|i| i.base < map_end).collect();
    let decide = Decider {
        latest: &latest,
        checkpoint,
        delete_horizon_ms: now_ms.saturating_sub(config.delete_retention_ms),
        transactions: &transactions,
    };
    let mut outcome = CleanOutcome {
        cleaned_up_to: map_end,
        ..CleanOutcome::default()
    };
    // The checkpoint goes first: segments below it may have offset gaps, which recovery must
    // then accept. Claiming it early only relaxes that check for segments not cleaned yet.
    let checkpoint_path = log.dir().join(CLEANER_CHECKPOINT);
    let claimed = map_end.max(checkpoint);
    blocking(move || write_checkpoint(&checkpoint_path, claimed)).await?;
    let spans: Vec<_> = range.iter().map(|i| (i.base, i.end, i.size)).collect();
    for group in groups(&spans, config.segment_bytes) {
        let group = &range[group];
        let bytes_before: u64 = group.iter().map(|i| i.size).sum();
        let cleaned = write_cleaned(log, group, &decide, limit).await?;
        let bytes_after = cleaned.segment.size_bytes;
        let removed = cleaned.records_removed;
        let replaced = cleaned.replaced.len();
        let committed = swap_in(log, cleaned, options.stop_after_manifest).await?;
        if options.stop_after_manifest {
            return Ok(Some(outcome));
        }
        if !committed {
            tracing::info!(
                topic = log.topic(),
                partition = log.partition(),
                "segments changed during compaction; will clean again"
            );
            return Ok(Some(outcome));
        }
        outcome.segments_cleaned += replaced;
        outcome.segments_written += 1;
        outcome.bytes_before += bytes_before;
        outcome.bytes_after += bytes_after;
        outcome.records_removed += removed;
    }
    log.set_cleaner_checkpoint(map_end);
    Ok(Some(outcome))
}

/// Key → latest offset over the dirty segments, and where the mapped range ends. The map stops
/// growing past the dedupe buffer at a segment boundary (the first dirty segment is always
/// mapped whole, so every pass makes progress).
async fn build_offset_map(
    inputs: &[SealedSegment],
    checkpoint: i64,
    options: CleanOptions,
    limit: usize,
    transactions: &Transactions,
) -> Result<(HashMap<Vec<u8>, i64>, i64), LogError> {
    let mut latest: HashMap<Vec<u8>, i64> = HashMap::new();
    let mut map_bytes = 0usize;
    let mut map_end = checkpoint;
    for (n, input) in inputs.iter().filter(|i| i.base >= checkpoint).enumerate() {
        if n > 0 && map_bytes > options.dedupe_buffer_bytes {
            break;
        }
        let mut scanner = scanner(input);
        while let Some(batch) = scanner.next_valid().await? {
            // Markers are kept whole; an aborted transaction's records supersede nothing.
            if transactions.passes_over(&batch) {
                continue;
            }
            let base = batch.base_offset();
            let mapped = with_records(&batch, limit, |records| {
                for record in records {
                    let Some(key) = record.key else { continue };
                    let offset = base + i64::from(record.offset_delta);
                    match latest.get_mut(key) {
                        Some(slot) => *slot = offset,
                        None => {
                            map_bytes += key.len() + MAP_ENTRY_OVERHEAD;
                            latest.insert(key.to_vec(), offset);
                        }
                    }
                }
            });
            if let Err(e) = mapped {
                // Its records are kept as they are (see `write_cleaned`), so nothing is lost.
                tracing::warn!(path = %input.path.display(), offset = base, error = %e, "compaction skips an unreadable batch");
            }
        }
        map_end = input.end;
    }
    Ok((latest, map_end))
}

fn scanner(input: &SealedSegment) -> SegmentScanner {
    SegmentScanner::new(
        input.file.clone(),
        input.path.clone(),
        0,
        input.size,
        1 << 20,
    )
}

/// What compaction needs to know of transactions (Kafka's cleaner does the same): the
/// aborted transactions of the range, whose records are removed, and the markers, kept.
struct Transactions {
    aborted: Vec<AbortedTxn>,
}

impl Transactions {
    /// A batch of an aborted transaction.
    fn aborted(&self, batch: &RecordBatch) -> bool {
        batch.attributes().is_transactional()
            && !batch.attributes().is_control()
            && self.aborted.iter().any(|a| {
                a.producer_id == batch.producer_id()
                    && a.first_offset <= batch.base_offset()
                    && batch.base_offset() <= a.last_offset
            })
    }

    /// A batch whose keys take no part in deduplication: a marker (kept as it is) or an
    /// aborted transaction's batch (removed).
    fn passes_over(&self, batch: &RecordBatch) -> bool {
        batch.attributes().is_control() || self.aborted(batch)
    }
}

/// Which records a pass keeps.
struct Decider<'a> {
    latest: &'a HashMap<Vec<u8>, i64>,
    checkpoint: i64,
    delete_horizon_ms: i64,
    transactions: &'a Transactions,
}

impl Decider<'_> {
    /// Kafka's rules: a record without a key has no place in a compacted log; a record with a
    /// later one of the same key goes; a tombstone goes once it has been through a pass before
    /// (it is below the checkpoint) and its segment is older than `delete.retention.ms`.
    fn keep(
        &self,
        input: &SealedSegment,
        key: Option<&[u8]>,
        is_tombstone: bool,
        offset: i64,
    ) -> bool {
        let Some(key) = key else { return false };
        if self.latest.get(key).is_some_and(|&latest| offset < latest) {
            return false;
        }
        !(is_tombstone
            && offset < self.checkpoint
            && input.max_timestamp_ms < self.delete_horizon_ms)
    }
}

/// Consecutive segments, as (base, end, size), whose total size fits one segment and whose
/// offsets fit the 32-bit relative offsets of one index (Kafka's `groupSegmentsBySize`).
fn groups(spans: &[(i64, i64, u64)], segment_bytes: u64) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < spans.len() {
        let (first_base, _, mut size) = spans[start];
        let mut end = start + 1;
        while end < spans.len()
            && size + spans[end].2 <= segment_bytes
            && spans[end].1 - first_base <= i64::from(i32::MAX)
        {
            size += spans[end].2;
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// Writes the kept records of `group` to `<first base>.log.cleaned`, synced, with its indexes
/// built in memory.
async fn write_cleaned(
    log: &PartitionLog,
    group: &[SealedSegment],
    decide: &Decider<'_>,
    limit: usize,
) -> Result<Cleaned, LogError> {
    let base = group[0].base;
    let path = cleaned_path(log.dir(), base);
    let mut writer = DmaStreamWriterBuilder::new(create_segment_file(&path).await?)
        .with_buffer_size(512 << 10)
        .with_write_behind(2)
        // One fdatasync below covers the data and the exact length.
        .with_sync_on_close_disabled(true)
        .build();
    let mut segment = Segment::new(log.dir(), base);
    let interval = log.config().index_interval_bytes;
    let mut records_removed = 0u64;
    for input in group {
        let mut scanner = scanner(input);
        while let Some(batch) = scanner.next_valid().await? {
            let before = batch.record_count();
            // A marker stays while the log has records before it (Kafka removes markers only
            // past delete.retention.ms with nothing left of their transaction; Weir keeps
            // them); an aborted transaction's batch goes whole.
            let kept = if batch.attributes().is_control() {
                Some(batch)
            } else if decide.transactions.aborted(&batch) {
                None
            } else {
                match filter_batch(&batch, limit, |record, offset| {
                    decide.keep(input, record.key, record.value.is_none(), offset)
                }) {
                    Ok(Filtered::Unchanged) => Some(batch),
                    Ok(Filtered::Dropped) => None,
                    Ok(Filtered::Rewritten(smaller)) => Some(smaller),
                    Err(e) => {
                        tracing::warn!(path = %input.path.display(), offset = batch.base_offset(), error = %e, "compaction keeps an unreadable batch as it is");
                        Some(batch)
                    }
                }
            };
            let after = kept.as_ref().map_or(0, RecordBatch::record_count);
            records_removed += u64::from((before - after).unsigned_abs());
            if let Some(kept) = kept {
                let position = segment.size_bytes;
                segment.account_batch(
                    position,
                    kept.size_bytes() as u64,
                    kept.last_offset(),
                    kept.max_timestamp(),
                    interval,
                );
                writer
                    .write_all(kept.as_bytes())
                    .await
                    .map_err(|e| LogError::io("write cleaned segment", &path, e))?;
            }
        }
    }
    writer
        .close()
        .await
        .map_err(|e| LogError::io("close cleaned segment", &path, e))?;
    // The writer owned its handle; this one serves reads once the file is swapped in (a rename
    // keeps it valid).
    let file = open_segment_file(&path).await?;
    truncate_and_sync(&file, &path, segment.size_bytes).await?;
    let size = segment.size_bytes;
    segment.file = Some(Rc::new(file));
    segment.state = SegmentState::Sealed;
    segment.written_bytes = size;
    segment.synced_bytes = size;
    segment.allocated_bytes = size;
    segment.next_offset = group[group.len() - 1].end;
    segment
        .time_index
        .maybe_append(segment.max_timestamp_ms, segment.offset_of_max_timestamp);
    Ok(Cleaned {
        segment,
        replaced: group.iter().map(|i| i.base).collect(),
        records_removed,
    })
}

/// Replaces the group's segments by the cleaned one, on disk and in the log's state. `false`
/// when the group changed meanwhile (retention, DeleteRecords, deletion): the cleaned file is
/// then discarded.
async fn swap_in(
    log: &PartitionLog,
    cleaned: Cleaned,
    stop_after_manifest: bool,
) -> Result<bool, LogError> {
    let dir = log.dir().to_path_buf();
    let _io = log.lock_io().await;
    if !log.all_sealed(&cleaned.replaced) {
        let path = cleaned_path(&dir, cleaned.replaced[0]);
        blocking(move || remove_files(&[path])).await?;
        return Ok(false);
    }
    let replaced = cleaned.replaced.clone();
    {
        let dir = dir.clone();
        let replaced = replaced.clone();
        blocking(move || {
            write_file_atomically(
                &dir.join(SWAP_MANIFEST),
                manifest_text(&replaced).as_bytes(),
            )
        })
        .await?;
    }
    if stop_after_manifest {
        return Ok(true);
    }
    let mut cleaned = cleaned;
    cleaned.segment.aborted = log.aborted_in(&cleaned.replaced);
    let txn_index = (
        cleaned.segment.txn_index_path.clone(),
        cleaned.segment.aborted.clone(),
    );
    let index_files = [
        (
            cleaned.segment.index_path.clone(),
            cleaned.segment.index.encode(),
        ),
        (
            cleaned.segment.time_index_path.clone(),
            cleaned.segment.time_index.encode(),
        ),
    ];
    blocking(move || {
        apply_swap(&dir, &replaced)?;
        // Writing the indexes syncs the directory, which makes the manifest's removal durable
        // too; a crash before that repeats the (idempotent) swap and rebuilds the indexes.
        remove_files(&[dir.join(SWAP_MANIFEST)])?;
        index_files
            .iter()
            .try_for_each(|(path, bytes)| write_file_atomically(path, bytes))?;
        write_txn_index(&txn_index.0, &txn_index.1)
    })
    .await?;
    log.replace_segments(&cleaned.replaced, cleaned.segment);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use glommio::LocalExecutorBuilder;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::log::{CleanupPolicy, Durability, LogConfig, LogDir};
    use crate::record::{split_batches, BatchBuilder, NewRecord};

    const KEYS: usize = 5;
    const ROUNDS: usize = 60;
    /// Record timestamps of the test data; the clock runs a day later.
    const T0: i64 = 1_700_000_000_000;

    fn run<Fut: std::future::Future<Output = ()> + 'static>(
        test: impl FnOnce() -> Fut + Send + 'static,
    ) {
        LocalExecutorBuilder::default()
            .io_memory(4 << 20)
            .spawn(test)
            .expect("start executor")
            .join()
            .expect("test executor panicked");
    }

    /// On the build's disk (not /tmp, which may be tmpfs without O_DIRECT).
    fn data_dir() -> tempfile::TempDir {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/unit-test-data");
        std::fs::create_dir_all(&base).unwrap();
        tempfile::tempdir_in(base).unwrap()
    }

    fn compacted() -> LogConfig {
        LogConfig {
            cleanup: CleanupPolicy {
                delete: false,
                compact: true,
            },
            segment_bytes: 1024,
            delete_retention_ms: 3_600_000,
            min_cleanable_dirty_ratio: 0.0,
            ..LogConfig::default()
        }
    }

    async fn open(dir: &Path, clock: &ManualClock) -> Rc<PartitionLog> {
        let log_dir = LogDir::open(dir).await.unwrap();
        PartitionLog::open(&log_dir, "table", 0, compacted(), Rc::new(clock.clone()))
            .await
            .unwrap()
    }

    /// Round r writes value `r` to every key, key 4 gets a tombstone in the last round instead.
    async fn write_rounds(log: &PartitionLog) {
        for round in 0..ROUNDS {
            let mut builder = BatchBuilder::new();
            for key in 0..KEYS {
                let value = format!("v{round}");
                let tombstone = key == KEYS - 1 && round == ROUNDS - 1;
                builder.push(NewRecord {
                    key: Some(format!("k{key}").as_bytes()),
                    value: (!tombstone).then_some(value.as_bytes()),
                    timestamp_ms: T0 + round as i64,
                });
            }
            log.append(builder.build()).unwrap();
        }
        log.wait_for(log.log_end_offset(), Durability::Synced)
            .await
            .unwrap();
    }

    /// Every record from the start: (offset, key, value).
    async fn read_all(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
        let mut out = Vec::new();
        let mut next = log.log_start_offset();
        while next < log.log_end_offset() {
            let read = log.read(next, 1 << 20).await.unwrap();
            for batch in split_batches(Bytes::from(read.to_vec())) {
                let batch = batch.unwrap();
                with_records(&batch, 1 << 20, |records| {
                    for r in records {
                        let offset = batch.base_offset() + i64::from(r.offset_delta);
                        if offset >= next {
                            let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
                            out.push((offset, text(r.key.unwrap()), r.value.map(text)));
                        }
                    }
                })
                .unwrap();
                next = batch.last_offset() + 1;
            }
        }
        out
    }

    /// The latest value of each key below `end`, as a consumer of the compacted log must see.
    fn latest_below(
        records: &[(i64, String, Option<String>)],
        end: i64,
    ) -> BTreeMap<String, Option<String>> {
        records
            .iter()
            .filter(|(o, ..)| *o < end)
            .map(|(_, k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn the_latest_value_per_key_survives_and_tombstones_go_after_delete_retention() {
        let dir = data_dir();
        run(move || async move {
            let clock = ManualClock::new(T0 + 60_000);
            let log = open(dir.path(), &clock).await;
            write_rounds(&log).await;
            let before = read_all(&log).await;
            let end = log.log_end_offset();
            assert_eq!(end, (KEYS * ROUNDS) as i64);
            assert!(
                log.segment_base_offsets().len() > 5,
                "small segments rolled"
            );

            let outcome = clean(&log, CleanOptions::new(1 << 20))
                .await
                .unwrap()
                .unwrap();
            assert!(outcome.records_removed > 0, "{outcome:?}");
            assert!(
                outcome.bytes_after < outcome.bytes_before / 4,
                "{outcome:?}"
            );
            let cleaned_end = outcome.cleaned_up_to;
            let after = read_all(&log).await;
            // Below the cleaned end: one record per key, the latest, tombstone included (it has
            // not been through a pass before). Above: untouched.
            let cleaned: Vec<_> = after.iter().filter(|(o, ..)| *o < cleaned_end).collect();
            assert_eq!(cleaned.len(), KEYS, "{cleaned:?}");
            assert_eq!(
                latest_below(&after, cleaned_end),
                latest_below(&before, cleaned_end)
            );
            assert_eq!(
                after.iter().filter(|(o, ..)| *o >= cleaned_end).count(),
                before.iter().filter(|(o, ..)| *o >= cleaned_end).count()
            );
            let offsets: Vec<i64> = after.iter().map(|r| r.0).collect();
            assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets only grow");
            assert_eq!(log.log_end_offset(), end, "the log end never moves");

            // Nothing new is dirty: no second pass.
            assert_eq!(clean(&log, CleanOptions::new(1 << 20)).await.unwrap(), None);

            // After delete.retention.ms, and once more data made the log dirty again, the
            // tombstone goes too.
            clock.set_ms(clock.now_ms() + 2 * 3_600_000);
            write_rounds(&log).await;
            let second = clean(&log, CleanOptions::new(1 << 20))
                .await
                .unwrap()
                .unwrap();
            // Segments shrunk by the first pass merge into one in the second (Kafka groups
            // cleaned segments by size the same way).
            assert!(
                second.segments_written < second.segments_cleaned,
                "{second:?}"
            );
            let tombstoned = format!("k{}", KEYS - 1);
            let first_tombstone = after.iter().find(|r| r.1 == tombstoned).unwrap().0;
            let again = read_all(&log).await;
            assert!(
                !again.iter().any(|r| r.0 == first_tombstone),
                "the old tombstone is gone"
            );

            // The compacted log reopens as it was, and appends continue at the log end.
            let expected = read_all(&log).await;
            let end = log.log_end_offset();
            log.close().await.unwrap();
            drop(log);
            let log = open(dir.path(), &clock).await;
            assert_eq!(log.log_end_offset(), end);
            assert_eq!(read_all(&log).await, expected);
            write_rounds(&log).await;
            assert_eq!(log.log_end_offset(), end + (KEYS * ROUNDS) as i64);
        });
    }

    #[test]
    fn a_crash_after_the_swap_commits_is_completed_on_the_next_start() {
        let dir = data_dir();
        run(move || async move {
            let clock = ManualClock::new(T0 + 60_000);
            let path = dir.path().to_path_buf();
            let log = open(&path, &clock).await;
            write_rounds(&log).await;
            let before = read_all(&log).await;
            let end = log.log_end_offset();
            let options = CleanOptions {
                stop_after_manifest: true,
                ..CleanOptions::new(1 << 20)
            };
            clean(&log, options).await.unwrap().unwrap();
            let partition = path.join("table-0");
            assert!(partition.join(SWAP_MANIFEST).exists());
            // The "crash": the process is gone without closing anything.
            drop(log);
            let log = open(&path, &clock).await;
            assert!(!partition.join(SWAP_MANIFEST).exists());
            assert_eq!(log.log_end_offset(), end);
            let after = read_all(&log).await;
            assert!(after.len() < before.len(), "the first group was swapped in");
            assert_eq!(latest_below(&after, end), latest_below(&before, end));
        });
    }

    #[test]
    fn an_uncommitted_cleaned_file_is_discarded_and_the_log_is_intact() {
        let dir = data_dir();
        run(move || async move {
            let clock = ManualClock::new(T0 + 60_000);
            let path = dir.path().to_path_buf();
            let log = open(&path, &clock).await;
            write_rounds(&log).await;
            let before = read_all(&log).await;
            log.close().await.unwrap();
            drop(log);
            let leftover = cleaned_path(&path.join("table-0"), 0);
            std::fs::write(&leftover, b"half a segment").unwrap();
            let log = open(&path, &clock).await;
            assert!(!leftover.exists());
            assert_eq!(read_all(&log).await, before);
        });
    }

    #[test]
    fn groups_fit_one_segment_and_one_index() {
        let spans = [
            (0, 10, 400),
            (10, 20, 400),
            (20, 30, 300),
            (30, 40, 900),
            (40, 50, 50),
        ];
        assert_eq!(groups(&spans, 1000), vec![0..2, 2..3, 3..5]);
        assert_eq!(groups(&spans, 1100), vec![0..3, 3..5]);
        assert_eq!(groups(&spans, 100), vec![0..1, 1..2, 2..3, 3..4, 4..5]);
        let wide = [(0, 10, 1), (10, i64::from(i32::MAX) + 5, 1)];
        assert_eq!(groups(&wide, 1000), vec![0..1, 1..2]);
    }

    #[test]
    fn manifests_round_trip_and_damage_is_refused() {
        assert_eq!(
            parse_manifest(&manifest_text(&[0, 40, 80])),
            Some(vec![0, 40, 80])
        );
        assert_eq!(parse_manifest("0\n\n"), None);
        assert_eq!(parse_manifest("1\n0 40\n"), None);
        assert_eq!(parse_manifest("0\n0 x\n"), None);
    }
}
