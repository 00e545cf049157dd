//! One segment: its files, its in-memory indexes and sizes, and the scanner that walks its
//! batches on disk (recovery, index rebuild, cold reads, timestamp search).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use glommio::io::{DmaFile, OpenOptions};

use super::dir::segment_file;
use super::error::LogError;
use super::index::{OffsetIndex, TimeIndex};
use super::producers::ProducerStates;
use super::read_ahead::SegmentReadId;
use super::transactions::AbortedTxn;
use crate::record::{RecordBatch, RecordError, BATCH_OVERHEAD_LEN};

/// Where a segment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegmentState {
    /// Takes appends; its index lives only in memory and is rebuilt by scanning on recovery.
    Active,
    /// Rolled: no more appends, but data or its index files are still to be written.
    Sealing,
    /// Trimmed to its exact size, index files written, fdatasync'ed.
    Sealed,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    /// Names these bytes for read-ahead: a segment rebuilt in place (truncation, compaction) is
    /// a new `Segment`, so reads made ahead of the old one are never served for it.
    pub read_id: SegmentReadId,
    pub log_path: PathBuf,
    pub index_path: PathBuf,
    pub time_index_path: PathBuf,
    /// Kafka's `.txnindex`: the aborted transactions whose abort marker is in this segment.
    pub txn_index_path: PathBuf,
    /// Opened by the writer when the segment first gets data.
    pub file: Option<Rc<DmaFile>>,
    pub state: SegmentState,
    /// Bytes appended, written or not.
    pub size_bytes: u64,
    /// Bytes the file holds (survive a crash of the process).
    pub written_bytes: u64,
    /// Bytes covered by an fdatasync (survive a crash of the machine).
    pub synced_bytes: u64,
    /// File space reserved with fallocate.
    pub allocated_bytes: u64,
    /// The bytes of the last, partially filled page as written; direct I/O writes whole pages,
    /// so the next write starts with them again.
    pub tail_page: Vec<u8>,
    /// Last offset + 1 of the segment's last batch.
    pub next_offset: i64,
    /// Largest batch max timestamp in the segment, -1 when empty (Kafka's NO_TIMESTAMP).
    pub max_timestamp_ms: i64,
    /// Last offset of the batch that carried `max_timestamp_ms`.
    pub offset_of_max_timestamp: i64,
    /// When the first batch was appended, for `segment.ms` rolling.
    pub first_append_ms: Option<i64>,
    pub index: OffsetIndex,
    pub time_index: TimeIndex,
    pub bytes_since_index_entry: u64,
    /// The transaction index's entries, in marker order. Written to `txn_index_path` when the
    /// segment is sealed (and for the active segment at a clean close); rebuilt by a scan.
    pub aborted: Vec<AbortedTxn>,
    /// A rolled segment's producer snapshot as of its end, taken at the roll; written as the
    /// next segment's `<offset>.snapshot` when this one is sealed.
    pub producers_at_end: Option<Vec<u8>>,
}

impl Segment {
    /// Bytes appended but not yet in the file, or rolled and not yet sealed: the writer's work.
    pub fn needs_write_step(&self) -> bool {
        self.state != SegmentState::Sealed
            && (self.written_bytes < self.size_bytes || self.state == SegmentState::Sealing)
    }

    pub fn new(dir: &Path, base_offset: i64) -> Self {
        Self {
            base_offset,
            read_id: SegmentReadId::next(),
            log_path: segment_file(dir, base_offset, "log"),
            index_path: segment_file(dir, base_offset, "index"),
            time_index_path: segment_file(dir, base_offset, "timeindex"),
            txn_index_path: segment_file(dir, base_offset, "txnindex"),
            file: None,
            state: SegmentState::Active,
            size_bytes: 0,
            written_bytes: 0,
            synced_bytes: 0,
            allocated_bytes: 0,
            tail_page: Vec::new(),
            next_offset: base_offset,
            max_timestamp_ms: -1,
            offset_of_max_timestamp: base_offset,
            first_append_ms: None,
            index: OffsetIndex::new(base_offset),
            time_index: TimeIndex::new(base_offset),
            bytes_since_index_entry: 0,
            aborted: Vec::new(),
            producers_at_end: None,
        }
    }

    /// Index bookkeeping for a batch placed at `position`, the same on append and on recovery
    /// so that both build the same indexes (Kafka's `LogSegment.append`).
    pub fn account_batch(
        &mut self,
        position: u64,
        size: u64,
        last_offset: i64,
        max_ts: i64,
        index_interval_bytes: u64,
    ) {
        if max_ts > self.max_timestamp_ms {
            self.max_timestamp_ms = max_ts;
            self.offset_of_max_timestamp = last_offset;
        }
        if self.bytes_since_index_entry >= index_interval_bytes {
            self.index.append(last_offset, position);
            self.time_index
                .maybe_append(self.max_timestamp_ms, self.offset_of_max_timestamp);
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += size;
        self.size_bytes = position + size;
        self.next_offset = last_offset + 1;
    }

    /// Adopts what a scan of the file found.
    pub fn apply_scan(&mut self, scan: ScanOutcome) {
        self.size_bytes = scan.valid_end;
        self.written_bytes = scan.valid_end;
        self.synced_bytes = scan.valid_end;
        self.next_offset = scan.next_offset;
        self.max_timestamp_ms = scan.max_timestamp_ms;
        self.offset_of_max_timestamp = scan.offset_of_max_timestamp;
        self.index = scan.index;
        self.time_index = scan.time_index;
        self.bytes_since_index_entry = scan.bytes_since_index_entry;
        self.aborted = scan.aborted;
    }

    /// The files of this segment that may exist on disk.
    pub fn paths(&self) -> [PathBuf; 4] {
        [
            self.log_path.clone(),
            self.index_path.clone(),
            self.time_index_path.clone(),
            self.txn_index_path.clone(),
        ]
    }
}

/// Opens an existing segment file for direct reads and writes.
pub(crate) async fn open_segment_file(path: &Path) -> Result<DmaFile, LogError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .dma_open(path)
        .await
        .map_err(|e| LogError::io("open segment", path, e))
}

/// Creates (or empties) a segment file for direct reads and writes (`DmaFile::create` would
/// open it write-only).
pub(crate) async fn create_segment_file(path: &Path) -> Result<DmaFile, LogError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .dma_open(path)
        .await
        .map_err(|e| LogError::io("create segment", path, e))
}

/// Cuts a segment file to `size` bytes and makes the new length durable. Used when sealing,
/// closing, recovering and truncating: each needs the file to be exactly its batches.
pub(crate) async fn truncate_and_sync(
    file: &DmaFile,
    path: &Path,
    size: u64,
) -> Result<(), LogError> {
    file.truncate(size)
        .await
        .map_err(|e| LogError::io("truncate segment", path, e))?;
    file.fdatasync()
        .await
        .map_err(|e| LogError::io("sync segment", path, e))
}

/// One step of a scan.
#[derive(Debug)]
pub(crate) enum ScanItem {
    Batch {
        position: u64,
        batch: RecordBatch,
    },
    /// Nothing more to read before the scan's end.
    End,
    /// The bytes at `position` are not a whole batch. `zeroed`: they are zeros, i.e. file space
    /// that was reserved but never written, which is the normal end of an active segment.
    Fault {
        position: u64,
        error: RecordError,
        zeroed: bool,
    },
}

/// Walks the batches of a segment file, reading it in chunks with direct I/O.
pub(crate) struct SegmentScanner {
    file: Rc<DmaFile>,
    path: PathBuf,
    position: u64,
    end: u64,
    chunk: Bytes,
    chunk_start: u64,
    chunk_bytes: usize,
}

impl SegmentScanner {
    pub fn new(file: Rc<DmaFile>, path: PathBuf, start: u64, end: u64, chunk_bytes: usize) -> Self {
        Self {
            file,
            path,
            position: start,
            end,
            chunk: Bytes::new(),
            chunk_start: start,
            chunk_bytes,
        }
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    /// Makes `[position, position + len)` available in `chunk` if the file has it.
    async fn fill(&mut self, len: usize) -> Result<(), LogError> {
        let chunk_end = self.chunk_start + self.chunk.len() as u64;
        let wanted_end = self.position + len as u64;
        if self.position >= self.chunk_start && wanted_end <= chunk_end {
            return Ok(());
        }
        let read_len = len
            .max(self.chunk_bytes)
            .min((self.end - self.position) as usize);
        let read = self
            .file
            .read_at(self.position, read_len)
            .await
            .map_err(|e| LogError::io("read segment", &self.path, e))?;
        // Direct I/O lands in glommio's DMA buffer, which is neither `Send` nor `Bytes`: one copy
        // makes the batches shareable with other shards and the network layer.
        self.chunk = Bytes::copy_from_slice(&read);
        self.chunk_start = self.position;
        Ok(())
    }

    fn available(&self) -> &[u8] {
        let from = (self.position - self.chunk_start) as usize;
        self.chunk.get(from..).unwrap_or(&[])
    }

    fn fault(&self, error: RecordError) -> ScanItem {
        let head = &self.available()[..self.available().len().min(BATCH_OVERHEAD_LEN)];
        ScanItem::Fault {
            position: self.position,
            error,
            zeroed: head.iter().all(|&b| b == 0),
        }
    }

    /// The next batch of data that must be valid (already recovered): a fault is corruption,
    /// reported as such rather than served.
    pub async fn next_valid(&mut self) -> Result<Option<RecordBatch>, LogError> {
        match self.next().await? {
            ScanItem::End => Ok(None),
            ScanItem::Batch { batch, .. } => Ok(Some(batch)),
            ScanItem::Fault {
                position, error, ..
            } => Err(LogError::Corrupt {
                path: self.path.clone(),
                position,
                reason: error.to_string(),
            }),
        }
    }

    pub async fn next(&mut self) -> Result<ScanItem, LogError> {
        if self.position >= self.end {
            return Ok(ScanItem::End);
        }
        self.fill(BATCH_OVERHEAD_LEN).await?;
        let size = match crate::record::declared_batch_size(self.available()) {
            Ok(size) => size,
            Err(error) => return Ok(self.fault(error)),
        };
        if self.position + size as u64 > self.end {
            let available = (self.end - self.position) as usize;
            return Ok(self.fault(RecordError::Truncated {
                available,
                needed: size,
            }));
        }
        self.fill(size).await?;
        if self.available().len() < size {
            let available = self.available().len();
            return Ok(self.fault(RecordError::Truncated {
                available,
                needed: size,
            }));
        }
        let from = (self.position - self.chunk_start) as usize;
        let batch = match RecordBatch::new(self.chunk.slice(from..from + size)) {
            Ok(batch) => batch,
            Err(error) => return Ok(self.fault(error)),
        };
        let position = self.position;
        self.position += size as u64;
        Ok(ScanItem::Batch { position, batch })
    }
}

/// What a full scan of a segment found.
#[derive(Debug)]
pub(crate) struct ScanOutcome {
    pub valid_end: u64,
    pub next_offset: i64,
    pub max_timestamp_ms: i64,
    pub offset_of_max_timestamp: i64,
    pub index: OffsetIndex,
    pub time_index: TimeIndex,
    pub bytes_since_index_entry: u64,
    /// Where each leader epoch begins in the scanned batches (`epochs`), in log order.
    pub epoch_starts: Vec<(i32, i64)>,
    /// The aborted transactions whose markers the scan found (the segment's `.txnindex`).
    pub aborted: Vec<AbortedTxn>,
    /// Set when the scan stopped before `end` on bytes that are not zeros.
    pub fault: Option<(u64, ScanFault)>,
}

/// Why a scan stopped on data that is not the log's.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScanFault {
    #[error("{0}")]
    Record(#[from] RecordError),
    #[error("batch base offset {found} does not follow the previous batch (expected {expected})")]
    Discontinuous { expected: i64, found: i64 },
}

/// Scans a segment from its start, checking every batch's length, magic, CRC and that offsets
/// continue where the previous batch ended; rebuilds the indexes on the way. Stops at the first
/// batch that fails. Idempotent producers' batches are recorded in `producers` on the way.
pub(crate) async fn scan_segment(
    file: Rc<DmaFile>,
    path: &Path,
    base_offset: i64,
    end: u64,
    index_interval_bytes: u64,
    gaps_allowed: bool,
    producers: &mut ProducerStates,
) -> Result<ScanOutcome, LogError> {
    let mut probe = Segment::new(Path::new(""), base_offset);
    let mut epoch_starts: Vec<(i32, i64)> = Vec::new();
    let mut aborted = Vec::new();
    let mut scanner = SegmentScanner::new(file, path.to_path_buf(), 0, end, 1 << 20);
    let fault = loop {
        match scanner.next().await? {
            ScanItem::End => break None,
            ScanItem::Fault {
                position,
                error,
                zeroed,
            } => break (!zeroed).then_some((position, ScanFault::Record(error))),
            ScanItem::Batch { position, batch } => {
                if let Err(error) = batch.check_integrity() {
                    break Some((position, error.into()));
                }
                let follows_on = if gaps_allowed {
                    batch.base_offset() >= probe.next_offset
                } else {
                    batch.base_offset() == probe.next_offset
                };
                if !follows_on || batch.last_offset_delta() < 0 {
                    // A whole, valid batch that does not follow on: a leftover from before a
                    // truncation. Everything from here on is not this log's data.
                    let fault = ScanFault::Discontinuous {
                        expected: probe.next_offset,
                        found: batch.base_offset(),
                    };
                    break Some((position, fault));
                }
                probe.account_batch(
                    position,
                    batch.size_bytes() as u64,
                    batch.last_offset(),
                    batch.max_timestamp(),
                    index_interval_bytes,
                );
                aborted.extend(producers.record_stored(&batch));
                let epoch = batch.partition_leader_epoch();
                if epoch >= 0 && epoch_starts.last().is_none_or(|(e, _)| *e != epoch) {
                    epoch_starts.push((epoch, batch.base_offset()));
                }
            }
        }
    };
    Ok(ScanOutcome {
        valid_end: probe.size_bytes,
        next_offset: probe.next_offset,
        max_timestamp_ms: probe.max_timestamp_ms,
        offset_of_max_timestamp: probe.offset_of_max_timestamp,
        index: probe.index,
        time_index: probe.time_index,
        bytes_since_index_entry: probe.bytes_since_index_entry,
        epoch_starts,
        aborted,
        fault,
    })
}
