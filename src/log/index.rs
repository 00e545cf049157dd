//! Kafka's sparse segment indexes, held in memory and written as files when a segment is sealed.
//!
//! `.index`: 8-byte entries (relative offset u32, position u32), one per `index.interval.bytes`
//! of log data; the offset is the last offset of the batch that starts at the position, as Kafka
//! writes it. `.timeindex`: 12-byte entries (timestamp i64, relative offset u32), appended when the
//! largest timestamp seen so far grows. Both are big-endian, as Kafka's.

use super::error::IndexError;

pub const OFFSET_INDEX_ENTRY_LEN: usize = 8;
pub const TIME_INDEX_ENTRY_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetIndexEntry {
    pub offset: i64,
    pub position: u64,
}

/// Offset → file position, sparse and strictly increasing in both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetIndex {
    base_offset: i64,
    entries: Vec<OffsetIndexEntry>,
}

impl OffsetIndex {
    pub fn new(base_offset: i64) -> Self {
        Self {
            base_offset,
            entries: Vec::new(),
        }
    }

    pub fn entries(&self) -> &[OffsetIndexEntry] {
        &self.entries
    }

    /// Records that the batch at `position` ends at `offset`. Entries must grow in both.
    pub fn append(&mut self, offset: i64, position: u64) {
        if let Some(last) = self.entries.last() {
            assert!(
                offset > last.offset && position > last.position,
                "offset index entries must increase: {last:?} then ({offset}, {position})"
            );
        }
        assert!(offset >= self.base_offset && offset - self.base_offset <= i64::from(u32::MAX));
        self.entries.push(OffsetIndexEntry { offset, position });
    }

    /// The position to start scanning at for `target`: that of the largest indexed offset that is
    /// at most `target`, or the segment start.
    pub fn lookup(&self, target: i64) -> u64 {
        let after = self.entries.partition_point(|e| e.offset <= target);
        match after {
            0 => 0,
            n => self.entries[n - 1].position,
        }
    }

    /// Drops entries for batches at or beyond `position` (after a truncation).
    pub fn truncate_to_position(&mut self, position: u64) {
        let keep = self.entries.partition_point(|e| e.position < position);
        self.entries.truncate(keep);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_INDEX_ENTRY_LEN);
        for entry in &self.entries {
            out.extend_from_slice(&((entry.offset - self.base_offset) as u32).to_be_bytes());
            out.extend_from_slice(&(entry.position as u32).to_be_bytes());
        }
        out
    }

    /// Reads an index file and checks it against its segment, as Kafka's `sanityCheck` does:
    /// whole entries, strictly increasing, every position inside the segment.
    pub fn decode(bytes: &[u8], base_offset: i64, segment_bytes: u64) -> Result<Self, IndexError> {
        if !bytes.len().is_multiple_of(OFFSET_INDEX_ENTRY_LEN) {
            return Err(IndexError::PartialEntry { len: bytes.len() });
        }
        let mut index = Self::new(base_offset);
        for (i, chunk) in bytes.chunks_exact(OFFSET_INDEX_ENTRY_LEN).enumerate() {
            let relative = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let position = u64::from(u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
            let offset = base_offset + i64::from(relative);
            let increasing = index
                .entries
                .last()
                .is_none_or(|last| offset > last.offset && position > last.position);
            if !increasing || position >= segment_bytes {
                return Err(IndexError::BadEntry {
                    entry: i,
                    offset,
                    position,
                });
            }
            index.entries.push(OffsetIndexEntry { offset, position });
        }
        Ok(index)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeIndexEntry {
    pub timestamp_ms: i64,
    pub offset: i64,
}

/// Largest-timestamp-so-far → offset of the batch that carried it; strictly increasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeIndex {
    base_offset: i64,
    entries: Vec<TimeIndexEntry>,
}

impl TimeIndex {
    pub fn new(base_offset: i64) -> Self {
        Self {
            base_offset,
            entries: Vec::new(),
        }
    }

    pub fn entries(&self) -> &[TimeIndexEntry] {
        &self.entries
    }

    pub fn last(&self) -> Option<TimeIndexEntry> {
        self.entries.last().copied()
    }

    /// Appends when both the timestamp and the offset grow; otherwise the entry adds nothing.
    pub fn maybe_append(&mut self, timestamp_ms: i64, offset: i64) {
        let grows = self
            .entries
            .last()
            .is_none_or(|last| timestamp_ms > last.timestamp_ms && offset > last.offset);
        if grows {
            self.entries.push(TimeIndexEntry {
                timestamp_ms,
                offset,
            });
        }
    }

    /// An offset from which a scan finds the first record with timestamp ≥ `target_ms`: every
    /// record up to and including the returned entry's offset is older than `target_ms`, so the
    /// scan may start there. `None`: scan from the segment start.
    pub fn lookup_before(&self, target_ms: i64) -> Option<i64> {
        let after = self.entries.partition_point(|e| e.timestamp_ms < target_ms);
        after.checked_sub(1).map(|i| self.entries[i].offset)
    }

    /// Drops entries at or beyond `offset` (after a truncation).
    pub fn truncate_to_offset(&mut self, offset: i64) {
        let keep = self.entries.partition_point(|e| e.offset < offset);
        self.entries.truncate(keep);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_INDEX_ENTRY_LEN);
        for entry in &self.entries {
            out.extend_from_slice(&entry.timestamp_ms.to_be_bytes());
            out.extend_from_slice(&((entry.offset - self.base_offset) as u32).to_be_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8], base_offset: i64) -> Result<Self, IndexError> {
        if !bytes.len().is_multiple_of(TIME_INDEX_ENTRY_LEN) {
            return Err(IndexError::PartialEntry { len: bytes.len() });
        }
        let mut index = Self::new(base_offset);
        for (i, chunk) in bytes.chunks_exact(TIME_INDEX_ENTRY_LEN).enumerate() {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&chunk[..8]);
            let timestamp_ms = i64::from_be_bytes(ts);
            let relative = u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
            let offset = base_offset + i64::from(relative);
            let increasing = index
                .entries
                .last()
                .is_none_or(|last| timestamp_ms > last.timestamp_ms && offset > last.offset);
            if !increasing {
                return Err(IndexError::BadEntry {
                    entry: i,
                    offset,
                    position: 0,
                });
            }
            index.entries.push(TimeIndexEntry {
                timestamp_ms,
                offset,
            });
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lookup_before_first_entry_starts_at_segment_start() {
        let mut index = OffsetIndex::new(100);
        index.append(110, 4200);
        index.append(130, 9000);
        assert_eq!(index.lookup(100), 0);
        assert_eq!(index.lookup(109), 0);
        assert_eq!(index.lookup(110), 4200);
        assert_eq!(index.lookup(129), 4200);
        assert_eq!(index.lookup(1_000), 9000);
    }

    #[test]
    fn corrupt_index_files_are_refused() {
        let mut index = OffsetIndex::new(0);
        index.append(5, 100);
        index.append(9, 200);
        let bytes = index.encode();
        assert_eq!(OffsetIndex::decode(&bytes, 0, 300), Ok(index.clone()));
        assert!(matches!(
            OffsetIndex::decode(&bytes[..7], 0, 300),
            Err(IndexError::PartialEntry { .. })
        ));
        assert!(matches!(
            OffsetIndex::decode(&bytes, 0, 150),
            Err(IndexError::BadEntry { entry: 1, .. })
        ));
        let mut swapped = bytes[8..].to_vec();
        swapped.extend_from_slice(&bytes[..8]);
        assert!(OffsetIndex::decode(&swapped, 0, 300).is_err());
    }

    #[test]
    fn time_index_keeps_only_growth_and_finds_the_scan_start() {
        let mut index = TimeIndex::new(0);
        index.maybe_append(1_000, 3);
        index.maybe_append(900, 5);
        index.maybe_append(2_000, 8);
        assert_eq!(index.entries().len(), 2);
        assert_eq!(index.lookup_before(1_000), None);
        assert_eq!(index.lookup_before(1_001), Some(3));
        assert_eq!(index.lookup_before(5_000), Some(8));
        let decoded = TimeIndex::decode(&index.encode(), 0).unwrap();
        assert_eq!(decoded, index);
    }

    proptest! {
        /// The sparse index must agree with a linear scan of (last offset, position) batches.
        #[test]
        fn offset_lookup_matches_linear_scan(
            batch_sizes in prop::collection::vec((1i64..50, 61u64..9000), 1..200),
            interval in 1u64..20_000,
            probes in prop::collection::vec(0i64..12_000, 1..50),
        ) {
            let base = 1_000i64;
            let mut index = OffsetIndex::new(base);
            let mut batches = Vec::new(); // (base offset, last offset, position)
            let (mut next, mut position, mut since_entry) = (base, 0u64, 0u64);
            for (count, size) in batch_sizes {
                let last = next + count - 1;
                if since_entry >= interval {
                    index.append(last, position);
                    since_entry = 0;
                }
                batches.push((next, last, position));
                since_entry += size;
                position += size;
                next = last + 1;
            }
            for probe in probes {
                let target = base + probe;
                let start = index.lookup(target);
                let want = batches.iter().find(|b| b.1 >= target).map(|b| b.2);
                let found = batches.iter().filter(|b| b.2 >= start).find(|b| b.1 >= target).map(|b| b.2);
                prop_assert_eq!(found, want);
                prop_assert!(start <= want.unwrap_or(u64::MAX));
            }
        }
    }
}
