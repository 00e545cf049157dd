//! Read-ahead for fetches served from segment files (a consumer catching up, a follower
//! rebuilding its replica): while one fetch's bytes are on the wire and the client handles them,
//! the next megabytes of the file are already being read, several direct reads at once.
//!
//! The page cache does this for Kafka; Weir reads with O_DIRECT, so it does it itself. Each shard
//! has one [`ReadAhead`], bounded in bytes (`log.read.ahead.memory.bytes`): streams that have not
//! been used for longest give way to new ones. A fetch returns the batches as slices of the read
//! buffers themselves ([`TakenBytes`]): the bytes go from the disk to the socket uncopied when
//! the fetch is answered on the shard that read them, and are copied once when they must cross
//! to another shard (see [`ShardReadSlice`]).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use glommio::io::{DmaFile, ReadResult};

use super::error::LogError;
use super::notify::WakeAll;

/// Bytes per direct read: large enough for the disk to stream, small enough that the first
/// read of a fetch comes back quickly.
const READ_BYTES: usize = 1 << 20;

/// Streams a shard remembers at most. Most hold reads and are bounded by the memory budget;
/// this bounds the ones that hold none (a fetch that found nothing in a segment), and the scan
/// a fetch makes for its stream.
const MAX_STREAMS: usize = 256;

/// Names one segment file's bytes. Every [`super::segment::Segment`] gets a new one, so that
/// bytes read ahead before a truncation or a compaction (which build new segments) are never
/// served after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SegmentReadId(u64);

impl SegmentReadId {
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The two read-ahead settings (Weir's own keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAheadConfig {
    /// `log.read.ahead.bytes`: how far ahead of a sequential reader the shard reads; 0 turns
    /// read-ahead off (each fetch then reads what it returns, one read at a time).
    pub window_bytes: usize,
    /// `log.read.ahead.memory.bytes`: bytes read ahead that a shard holds at most, all
    /// partitions together.
    pub memory_bytes: usize,
}

impl Default for ReadAheadConfig {
    fn default() -> Self {
        Self {
            window_bytes: 4 << 20,
            memory_bytes: 64 << 20,
        }
    }
}

/// A shard's read-ahead figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadAheadStats {
    /// Bytes read or being read ahead that the shard holds now.
    pub held_bytes: u64,
    /// Bytes read from segment files for fetches.
    pub read_bytes: u64,
    /// Times a fetch waited for a segment read (one not made ahead, or not finished yet).
    pub fetch_waits: u64,
}

/// One shard's read-ahead: the streams of its sequential readers, least recently used first.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    config: ReadAheadConfig,
    streams: RefCell<VecDeque<Stream>>,
    /// Bytes of every stream's reads, those of streams a fetch holds right now included.
    held_bytes: Cell<usize>,
    read_bytes: Cell<u64>,
    fetch_waits: Cell<u64>,
}

/// A reader's progress through one segment file and the reads issued ahead of it.
#[derive(Debug, Default)]
struct Stream {
    segment: SegmentReadId,
    /// Where the reader's last fetch stopped, and the offset it will ask for next: every batch
    /// before `resume_position` ends below `resume_offset`, so a fetch at or after that offset
    /// may start scanning there instead of at the index entry.
    resume_position: u64,
    resume_offset: i64,
    /// Contiguous reads, in file order.
    reads: VecDeque<Rc<ChunkRead>>,
    /// A stream that has been resumed reads its full window ahead; a new one reads one chunk
    /// ahead only, so that a single fetch at a random offset does not cost megabytes.
    resumed: bool,
}

impl Stream {
    fn covers(&self, position: u64) -> bool {
        self.reads
            .front()
            .is_some_and(|first| first.start <= position)
            && self.reads.back().is_some_and(|last| position < last.end())
    }

    fn bytes(&self) -> usize {
        self.reads.iter().map(|r| r.len).sum()
    }
}

/// One direct read of `[start, start + len)`, in flight or done.
#[derive(Debug)]
struct ChunkRead {
    start: u64,
    len: usize,
    outcome: RefCell<ReadOutcome>,
    done: WakeAll,
}

#[derive(Debug)]
enum ReadOutcome {
    Reading,
    Read(ReadResult),
    Failed(std::io::Error),
}

impl ChunkRead {
    fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    /// Starts the read in its own task, so that it goes on after the fetch that asked for it
    /// has answered.
    fn spawn(file: Rc<DmaFile>, start: u64, len: usize) -> Rc<Self> {
        let read = Rc::new(Self {
            start,
            len,
            outcome: RefCell::new(ReadOutcome::Reading),
            done: WakeAll::default(),
        });
        let task_read = read.clone();
        glommio::spawn_local(async move {
            let outcome = match file.read_at(start, len).await {
                Ok(bytes) => ReadOutcome::Read(bytes),
                Err(error) => ReadOutcome::Failed(error.into()),
            };
            *task_read.outcome.borrow_mut() = outcome;
            task_read.done.wake_all();
        })
        .detach();
        read
    }

    async fn finished(&self) {
        self.done
            .until(|| !matches!(*self.outcome.borrow(), ReadOutcome::Reading))
            .await
    }
}

/// The bytes a fetch takes from the read buffers: runs of contiguous bytes, each a slice of one
/// read, in the order taken.
#[derive(Default)]
pub(crate) struct TakenBytes {
    slices: Vec<Bytes>,
    /// The run being added to: its read, and where in it the run begins and ends.
    open: Option<(ReadResult, usize, usize)>,
    len: usize,
}

impl TakenBytes {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `read[from..from + len]`: to the open run when it follows on in the same read.
    fn add(&mut self, read: &ReadResult, from: usize, len: usize) {
        self.len += len;
        if let Some((open, _, end)) = &mut self.open {
            if open.as_ptr() == read.as_ptr() && *end == from {
                *end += len;
                return;
            }
        }
        self.close_run();
        self.open = Some((read.clone(), from, from + len));
    }

    fn close_run(&mut self) {
        if let Some((read, start, end)) = self.open.take() {
            let slice = ReadResult::slice(&read, start, end - start)
                .expect("a run lies within its read: `add` was given in-bounds ranges");
            self.slices
                .push(Bytes::from_owner(ShardReadSlice::new(slice)));
        }
    }

    /// The slices, each lending a read buffer of this shard (see [`ShardReadSlice`]).
    pub fn into_slices(mut self) -> Vec<Bytes> {
        self.close_run();
        self.slices
    }
}

/// A slice of one of this shard's direct-read buffers, lent to a fetch response as [`Bytes`]
/// so that the bytes go from the disk to the socket without a copy.
///
/// glommio's `ReadResult` counts its references with `Rc` and is tied to its file's read
/// scheduler, so only the shard's own thread may clone or drop it; [`Bytes`] must be `Send`.
/// The broker keeps these bytes on the shard: a fetch answered by another shard copies them
/// before they cross the mesh (`ReadBatches::unbind_from_shard`). Should one still be dropped
/// on another thread, it is leaked, not dropped there, and counted
/// ([`shard_read_slices_leaked`]): a leak is a bug to fix, never undefined behaviour.
struct ShardReadSlice {
    read: ReadResult,
    thread: std::thread::ThreadId,
}

/// Read-buffer slices dropped on a thread other than their shard's, and so leaked.
static SHARD_READ_SLICES_LEAKED: AtomicU64 = AtomicU64::new(0);

/// How many read-buffer slices have been leaked (see [`ShardReadSlice`]): 0 unless bytes lent
/// by a shard crossed to another thread.
pub fn shard_read_slices_leaked() -> u64 {
    SHARD_READ_SLICES_LEAKED.load(Ordering::Relaxed)
}

impl ShardReadSlice {
    fn new(read: ReadResult) -> Self {
        Self {
            read,
            thread: std::thread::current().id(),
        }
    }
}

impl AsRef<[u8]> for ShardReadSlice {
    fn as_ref(&self) -> &[u8] {
        &self.read
    }
}

// SAFETY: the only operations of `ReadResult` that are not thread-safe are its clone and its
// drop (its `Rc` count, its file scheduler's tree). `ShardReadSlice` never clones it, and drops
// it only on the thread that made it (see `Drop`). `Bytes::from_owner` calls `as_ref` once, on
// the thread that makes the `Bytes`; the memory it points to is not written again while the
// read is held, so reading it from any thread is sound.
unsafe impl Send for ShardReadSlice {}

impl Drop for ShardReadSlice {
    fn drop(&mut self) {
        if std::thread::current().id() != self.thread {
            std::mem::forget(std::mem::take(&mut self.read));
            if SHARD_READ_SLICES_LEAKED.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::error!(
                    "a fetch's read buffer was dropped off its shard and leaked; it should \
                     have been copied before it left the shard"
                );
            }
        }
    }
}

/// The segment file a fetch reads: its identity, handle, and the bytes that hold whole batches.
pub(crate) struct SegmentSpan {
    pub id: SegmentReadId,
    pub file: Rc<DmaFile>,
    pub path: PathBuf,
    pub end: u64,
}

impl ReadAhead {
    pub fn new(config: ReadAheadConfig) -> Self {
        Self {
            config,
            streams: RefCell::new(VecDeque::new()),
            held_bytes: Cell::new(0),
            read_bytes: Cell::new(0),
            fetch_waits: Cell::new(0),
        }
    }

    pub fn stats(&self) -> ReadAheadStats {
        ReadAheadStats {
            held_bytes: self.held_bytes.get() as u64,
            read_bytes: self.read_bytes.get(),
            fetch_waits: self.fetch_waits.get(),
        }
    }

    /// A cursor for a fetch of `from_offset` whose index lookup gave `index_position`. It
    /// resumes the stream of an earlier fetch that stopped where this one begins, if any.
    pub fn cursor(
        &self,
        span: SegmentSpan,
        index_position: u64,
        from_offset: i64,
    ) -> SegmentCursor<'_> {
        let mut streams = self.streams.borrow_mut();
        let resumable = |s: &Stream| {
            s.segment == span.id
                && s.resume_offset <= from_offset
                && s.resume_position >= index_position
                && s.resume_position <= span.end
        };
        // Of several streams of the segment (readers at different offsets), the one nearest
        // ahead of the index entry.
        let nearest = streams
            .iter()
            .enumerate()
            .filter(|(_, s)| resumable(s))
            .max_by_key(|(_, s)| s.resume_position)
            .map(|(at, _)| at);
        let stream = match nearest {
            Some(at) => {
                let mut stream = streams.remove(at).expect("found just above");
                stream.resumed = true;
                stream
            }
            None => Stream {
                segment: span.id,
                resume_position: index_position,
                resume_offset: from_offset,
                ..Stream::default()
            },
        };
        SegmentCursor {
            read_ahead: self,
            position: stream.resume_position,
            stream,
            span,
        }
    }

    /// Makes room for `len` more bytes by dropping the least recently used streams; false
    /// when the streams left in the cache are not enough (the rest are held by fetches).
    fn make_room(&self, len: usize) -> bool {
        let mut streams = self.streams.borrow_mut();
        while self.held_bytes.get() + len > self.config.memory_bytes {
            if !self.drop_oldest(&mut streams) {
                return false;
            }
        }
        true
    }

    /// Forgets the least recently used stream of `streams` (the cache), if any.
    fn drop_oldest(&self, streams: &mut VecDeque<Stream>) -> bool {
        let Some(oldest) = streams.pop_front() else {
            return false;
        };
        self.release(oldest.bytes());
        true
    }

    fn release(&self, bytes: usize) {
        self.held_bytes
            .set(self.held_bytes.get().saturating_sub(bytes));
    }

    fn hold(&self, bytes: usize) {
        self.held_bytes.set(self.held_bytes.get() + bytes);
        self.read_bytes.set(self.read_bytes.get() + bytes as u64);
    }
}

/// One fetch's pass over a segment file, through its stream's reads. Dropping it gives the
/// stream back to the shard's cache as the most recently used.
pub(crate) struct SegmentCursor<'a> {
    read_ahead: &'a ReadAhead,
    stream: Stream,
    span: SegmentSpan,
    position: u64,
}

impl SegmentCursor<'_> {
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn end(&self) -> u64 {
        self.span.end
    }

    pub fn path(&self) -> &Path {
        &self.span.path
    }

    pub fn skip(&mut self, len: usize) {
        self.position += len as u64;
    }

    /// Fills `buf` with the bytes at the cursor, without moving it.
    pub async fn peek(&mut self, buf: &mut [u8]) -> Result<(), LogError> {
        let mut at = self.position;
        let mut filled = 0;
        while filled < buf.len() {
            let n = self
                .with_read_at(at, buf.len() - filled, |read, from, available| {
                    buf[filled..filled + available].copy_from_slice(&read[from..from + available]);
                    available
                })
                .await?;
            filled += n;
            at += n as u64;
        }
        Ok(())
    }

    /// Adds the `len` bytes at the cursor to `out`, as slices of the read buffers, and moves
    /// past them.
    pub async fn take(&mut self, len: usize, out: &mut TakenBytes) -> Result<(), LogError> {
        let end = self.position + len as u64;
        while self.position < end {
            let wanted = (end - self.position) as usize;
            let n = self
                .with_read_at(self.position, wanted, |read, from, available| {
                    out.add(read, from, available);
                    available
                })
                .await?;
            self.position += n as u64;
        }
        Ok(())
    }

    /// Records where the fetch stopped: its next fetch, at `next_offset`, resumes here.
    pub fn finish(mut self, next_offset: i64) {
        self.stream.resume_position = self.position;
        self.stream.resume_offset = next_offset;
        self.top_up();
    }

    /// Calls `use_bytes` with the read that holds `at`, where `at` is in it, and how many of
    /// the `len` bytes wanted it holds from there (at least one), waiting for that read (and
    /// starting it, and the ones after it, if needed).
    async fn with_read_at(
        &mut self,
        at: u64,
        len: usize,
        use_bytes: impl FnOnce(&ReadResult, usize, usize) -> usize,
    ) -> Result<usize, LogError> {
        if at >= self.span.end {
            return Err(LogError::Corrupt {
                path: self.span.path.clone(),
                position: at,
                reason: format!("a batch runs past the segment's end at {}", self.span.end),
            });
        }
        let read = self.read_holding(at);
        if matches!(*read.outcome.borrow(), ReadOutcome::Reading) {
            self.read_ahead
                .fetch_waits
                .set(self.read_ahead.fetch_waits.get() + 1);
            read.finished().await;
        }
        let outcome = read.outcome.borrow();
        match &*outcome {
            ReadOutcome::Read(bytes) => {
                let from = (at - read.start) as usize;
                let available = bytes.len().saturating_sub(from).min(len);
                if available == 0 {
                    return Err(LogError::Corrupt {
                        path: self.span.path.clone(),
                        position: at,
                        reason: format!("the file ends at {}", read.start + bytes.len() as u64),
                    });
                }
                Ok(use_bytes(bytes, from, available))
            }
            ReadOutcome::Failed(error) => Err(LogError::io(
                "read segment",
                &self.span.path,
                std::io::Error::new(error.kind(), error.to_string()),
            )),
            ReadOutcome::Reading => unreachable!("finished() waited for the read"),
        }
    }

    /// The read that holds `at`: the stream's, or a new one (the stream then starts over at
    /// `at`, with its reads ahead issued too).
    fn read_holding(&mut self, at: u64) -> Rc<ChunkRead> {
        let stream = &mut self.stream;
        if !stream.covers(at) {
            self.read_ahead.release(stream.bytes());
            stream.reads.clear();
            let len = READ_BYTES.min((self.span.end - at) as usize);
            // The read a fetch waits for is made whatever the budget: it would be made anyway.
            self.read_ahead.hold(len);
            stream
                .reads
                .push_back(ChunkRead::spawn(self.span.file.clone(), at, len));
        }
        let read = stream
            .reads
            .iter()
            .find(|r| r.start <= at && at < r.end())
            .cloned()
            .expect("the stream covers `at`");
        self.top_up();
        read
    }

    /// Drops the reads behind the cursor and issues reads up to the window ahead of it, as the
    /// budget allows.
    fn top_up(&mut self) {
        let stream = &mut self.stream;
        while stream
            .reads
            .front()
            .is_some_and(|r| r.end() <= self.position)
        {
            let behind = stream.reads.pop_front().expect("front() is some");
            self.read_ahead.release(behind.len);
        }
        let window = match stream.resumed {
            true => self.read_ahead.config.window_bytes,
            false => self.read_ahead.config.window_bytes.min(READ_BYTES),
        };
        let ahead_to = self.span.end.min(self.position + window as u64);
        loop {
            let next = stream.reads.back().map_or(self.position, |r| r.end());
            if next >= ahead_to {
                break;
            }
            let len = READ_BYTES.min((self.span.end - next) as usize);
            if !self.read_ahead.make_room(len) {
                break;
            }
            self.read_ahead.hold(len);
            stream
                .reads
                .push_back(ChunkRead::spawn(self.span.file.clone(), next, len));
        }
    }
}

impl Drop for SegmentCursor<'_> {
    fn drop(&mut self) {
        let mut streams = self.read_ahead.streams.borrow_mut();
        streams.push_back(std::mem::take(&mut self.stream));
        while streams.len() > MAX_STREAMS {
            self.read_ahead.drop_oldest(&mut streams);
        }
    }
}
