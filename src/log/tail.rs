//! The in-memory tail of a partition: recent batches as the broker stored them, kept to serve
//! tail fetches without touching the disk and as the source of every write that has not yet
//! reached the file.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::record::{PatchedHeader, BATCH_HEADER_LEN};

/// A stored batch: the broker's patched header plus the client's record bytes, untouched.
#[derive(Debug, Clone)]
pub(crate) struct CachedBatch {
    pub segment_base: i64,
    pub position: u64,
    pub base_offset: i64,
    pub last_offset: i64,
    pub header: Bytes,
    pub body: Bytes,
}

impl CachedBatch {
    pub fn size_bytes(&self) -> u64 {
        (self.header.len() + self.body.len()) as u64
    }

    /// `(segment, end position)`, the order batches are written in.
    fn end_key(&self) -> (i64, u64) {
        (self.segment_base, self.position + self.size_bytes())
    }
}

/// Bytes per header arena allocation: headers are carved from it so that an append allocates
/// once per ~1000 batches, not once per batch.
const HEADER_ARENA_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct TailCache {
    batches: VecDeque<CachedBatch>,
    bytes: u64,
    header_arena: BytesMut,
}

impl TailCache {
    pub fn push(&mut self, mut batch: CachedBatch, header: &PatchedHeader) {
        if self.header_arena.capacity() < BATCH_HEADER_LEN {
            self.header_arena = BytesMut::with_capacity(HEADER_ARENA_BYTES);
        }
        self.header_arena.extend_from_slice(&header.0);
        batch.header = self.header_arena.split().freeze();
        self.bytes += batch.size_bytes();
        self.batches.push_back(batch);
    }

    pub fn first_offset(&self) -> Option<i64> {
        self.batches.front().map(|b| b.base_offset)
    }

    /// Index of the first batch whose last offset is at least `offset`.
    pub fn find_offset(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last_offset < offset)
    }

    /// Index of the first batch of `segment_base` that ends after `position`.
    pub fn find_position(&self, segment_base: i64, position: u64) -> usize {
        self.batches
            .partition_point(|b| b.end_key() <= (segment_base, position))
    }

    pub fn get(&self, index: usize) -> Option<&CachedBatch> {
        self.batches.get(index)
    }

    pub fn iter_from(&self, index: usize) -> impl Iterator<Item = &CachedBatch> {
        self.batches.range(index.min(self.batches.len())..)
    }

    /// Drops the oldest batches below `written_offset` (already in the file) while the cache is
    /// over `max_bytes`. Batches not yet written are never dropped: they are the write's source.
    pub fn evict(&mut self, max_bytes: u64, written_offset: i64) {
        while self.bytes > max_bytes {
            match self.batches.front() {
                Some(b) if b.last_offset < written_offset => {
                    self.bytes -= b.size_bytes();
                    self.batches.pop_front();
                }
                _ => break,
            }
        }
    }

    /// Drops batches below `offset` (retention, DeleteRecords).
    pub fn drop_before(&mut self, offset: i64) {
        while let Some(b) = self.batches.front() {
            if b.last_offset >= offset {
                break;
            }
            self.bytes -= b.size_bytes();
            self.batches.pop_front();
        }
    }

    /// Drops batches from `offset` on (truncation).
    pub fn truncate_from(&mut self, offset: i64) {
        while let Some(b) = self.batches.back() {
            if b.last_offset < offset {
                break;
            }
            self.bytes -= b.size_bytes();
            self.batches.pop_back();
        }
    }

    /// Copies the stored bytes of `segment_base` in `[from, to)` into `out`.
    pub fn copy_range(&self, segment_base: i64, from: u64, to: u64, out: &mut [u8]) {
        let mut written = 0usize;
        for batch in self.iter_from(self.find_position(segment_base, from)) {
            if batch.segment_base != segment_base || batch.position >= to {
                break;
            }
            let mut at = batch.position;
            for part in [&batch.header, &batch.body] {
                let part_end = at + part.len() as u64;
                let lo = from.max(at);
                let hi = to.min(part_end);
                if lo < hi {
                    let src = &part[(lo - at) as usize..(hi - at) as usize];
                    out[written..written + src.len()].copy_from_slice(src);
                    written += src.len();
                }
                at = part_end;
            }
        }
        assert_eq!(
            written as u64,
            to - from,
            "unwritten bytes of segment {segment_base} in [{from}, {to}) must all be cached"
        );
    }
}
