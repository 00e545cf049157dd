//! Kafka's clean-shutdown marker, per partition. A log closed cleanly (SIGTERM/SIGINT, topic
//! deletion) writes `clean-shutdown`: what recovery would otherwise learn by scanning the whole
//! active segment — its size, next offset, max timestamp, in-memory indexes and the idempotent
//! producers' state — with a CRC-32C. The next open reads and deletes it; when it matches the
//! active segment file exactly, the scan is skipped. Anything else (no file, a damaged one, a
//! size that differs) falls back to the full scan, so the marker can only save time, never
//! trust data it does not describe.

use super::index::{OffsetIndex, TimeIndex};
use super::segment::Segment;

pub(crate) const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";
const MAGIC: &[u8; 8] = b"WEIRCLN1";

/// The active segment as it was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CleanClose {
    pub base_offset: i64,
    pub size_bytes: u64,
    pub next_offset: i64,
    pub max_timestamp_ms: i64,
    pub offset_of_max_timestamp: i64,
    pub bytes_since_index_entry: u64,
    pub index: Vec<u8>,
    pub time_index: Vec<u8>,
    /// `ProducerStates` snapshot as of `next_offset`.
    pub producers: Vec<u8>,
}

impl CleanClose {
    pub fn of_active(segment: &Segment, producers: Vec<u8>) -> Self {
        CleanClose {
            base_offset: segment.base_offset,
            size_bytes: segment.size_bytes,
            next_offset: segment.next_offset,
            max_timestamp_ms: segment.max_timestamp_ms,
            offset_of_max_timestamp: segment.offset_of_max_timestamp,
            bytes_since_index_entry: segment.bytes_since_index_entry,
            index: segment.index.encode(),
            time_index: segment.time_index.encode(),
            producers,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            64 + self.index.len() + self.time_index.len() + self.producers.len(),
        );
        out.extend_from_slice(MAGIC);
        for value in [
            self.base_offset,
            self.size_bytes as i64,
            self.next_offset,
            self.max_timestamp_ms,
            self.offset_of_max_timestamp,
            self.bytes_since_index_entry as i64,
        ] {
            out.extend_from_slice(&value.to_be_bytes());
        }
        for part in [&self.index, &self.time_index, &self.producers] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        let crc = crate::checksum::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// `None` for anything that is not a whole, intact marker.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crate::checksum::crc32c(body).to_be_bytes() != crc {
            return None;
        }
        let mut rest = body.strip_prefix(MAGIC)?;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            rest = tail;
            Some(head)
        };
        let mut numbers = [0i64; 6];
        for number in &mut numbers {
            *number = i64::from_be_bytes(take(8)?.try_into().ok()?);
        }
        let mut parts: [Vec<u8>; 3] = Default::default();
        for part in &mut parts {
            let len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
            *part = take(len)?.to_vec();
        }
        if !rest.is_empty() || numbers[1] < 0 || numbers[5] < 0 {
            return None;
        }
        let [index, time_index, producers] = parts;
        Some(CleanClose {
            base_offset: numbers[0],
            size_bytes: numbers[1] as u64,
            next_offset: numbers[2],
            max_timestamp_ms: numbers[3],
            offset_of_max_timestamp: numbers[4],
            bytes_since_index_entry: numbers[5] as u64,
            index,
            time_index,
            producers,
        })
    }

    /// Restores the active segment from the marker when it describes exactly this file;
    /// otherwise says why not (and the caller scans).
    pub fn restore(&self, segment: &mut Segment, file_size: u64) -> Result<(), String> {
        if self.base_offset != segment.base_offset || self.size_bytes != file_size {
            return Err(format!(
                "it describes segment {} of {} bytes, the file is segment {} of {file_size} bytes",
                self.base_offset, self.size_bytes, segment.base_offset
            ));
        }
        let index = OffsetIndex::decode(&self.index, self.base_offset, file_size)
            .map_err(|e| format!("offset index: {e}"))?;
        let time_index = TimeIndex::decode(&self.time_index, self.base_offset)
            .map_err(|e| format!("time index: {e}"))?;
        segment.size_bytes = file_size;
        segment.written_bytes = file_size;
        segment.synced_bytes = file_size;
        segment.allocated_bytes = file_size;
        segment.next_offset = self.next_offset;
        segment.max_timestamp_ms = self.max_timestamp_ms;
        segment.offset_of_max_timestamp = self.offset_of_max_timestamp;
        segment.bytes_since_index_entry = self.bytes_since_index_entry;
        segment.index = index;
        segment.time_index = time_index;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker() -> CleanClose {
        CleanClose {
            base_offset: 100,
            size_bytes: 8192,
            next_offset: 180,
            max_timestamp_ms: 1_700_000_000_000,
            offset_of_max_timestamp: 179,
            bytes_since_index_entry: 512,
            index: vec![0, 0, 0, 40, 0, 0, 16, 0],
            time_index: Vec::new(),
            producers: vec![1, 2, 3],
        }
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let bytes = marker().encode();
        assert_eq!(CleanClose::decode(&bytes), Some(marker()));
        for cut in [0, 3, 8, bytes.len() - 1] {
            assert_eq!(CleanClose::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        for flip in [0, 9, 40, bytes.len() - 2] {
            let mut damaged = bytes.clone();
            damaged[flip] ^= 0x10;
            assert_eq!(CleanClose::decode(&damaged), None, "flip at {flip}");
        }
    }

    #[test]
    fn restores_only_the_segment_it_describes() {
        let dir = std::path::Path::new("/nonexistent");
        let mut segment = Segment::new(dir, 100);
        assert!(marker().restore(&mut segment, 4096).is_err());
        let mut other = Segment::new(dir, 0);
        assert!(marker().restore(&mut other, 8192).is_err());
        marker().restore(&mut segment, 8192).unwrap();
        assert_eq!(segment.next_offset, 180);
        assert_eq!(segment.size_bytes, 8192);
        assert_eq!(segment.index.lookup(150), 4096);
        // An index entry past the file's end is refused.
        let mut beyond = marker();
        beyond.index = vec![0, 0, 0, 40, 0, 0, 0x40, 0];
        assert!(beyond.restore(&mut Segment::new(dir, 100), 8192).is_err());
    }
}
