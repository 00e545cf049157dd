//! CRC-32C (Castagnoli): the checksum of Kafka's v2 record batches, which the broker checks
//! on every produced batch (Kafka's `DefaultRecordBatch.ensureValid`), and of Weir's own files.
//!
//! Computed by the `crc-fast` crate, which folds with carry-less multiplication (AVX-512
//! VPCLMULQDQ where the CPU has it, SSE4.2 and PCLMULQDQ otherwise) and falls back to tables
//! elsewhere. It replaced the `crc32c` crate's SSE4.2 `crc32` instruction on the produce path:
//! 111 against 29 GiB/s over 1 MiB here (`cargo bench --bench record`, perf/RESULTS.md).

use crc_fast::CrcAlgorithm;

/// The CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    // A 32-bit CRC in the crate's u64 result: the high half is zero.
    crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, data) as u32
}

/// The CRC-32C of the bytes `crc` was computed over followed by `data`.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    crc_fast::checksum_combine(
        CrcAlgorithm::Crc32Iscsi,
        u64::from(crc),
        u64::from(crc32c(data)),
        data.len() as u64,
    ) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_check_value_and_the_crc32c_crate() {
        // The catalogue's check value of CRC-32/ISCSI.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        // Lengths around the small-input path (256) and the folding block sizes, at odd starts.
        for len in [0, 1, 7, 255, 256, 257, 1000, 4096, 65_537] {
            for start in [0, 1, 13] {
                let part = &data[start..start + len];
                assert_eq!(crc32c(part), ::crc32c::crc32c(part), "len {len} at {start}");
            }
        }
    }

    #[test]
    fn append_continues_a_crc() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i ^ (i >> 3)) as u8).collect();
        for split in [0, 1, 61, 5000, 10_000] {
            let (head, tail) = data.split_at(split);
            assert_eq!(
                crc32c_append(crc32c(head), tail),
                crc32c(&data),
                "split {split}"
            );
        }
    }
}
