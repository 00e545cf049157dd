//! The four Kafka record codecs, for recompressing batches when a topic's `compression.type`
//! differs from the producer's: gzip (flate2), snappy (raw blocks, and the xerial framing the
//! Java client writes), lz4 frame (lz4_flex, Kafka's KafkaLZ4BlockOutputStream format), zstd.
//! Decompression is bounded: a payload that inflates past the limit is refused before the
//! memory is spent ("zip bomb").

use std::io::{Read, Write};

use super::batch::{Compression, HeaderChanges, RecordBatch};
use super::error::RecordError;

/// xerial snappy-java stream header: magic, version 1, compatible version 1.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_BLOCK: usize = 32 * 1024;

fn bad(codec: Compression, reason: impl ToString) -> RecordError {
    RecordError::BadCompressedPayload {
        codec,
        reason: reason.to_string(),
    }
}

/// Reads `reader` to the end, refusing more than `limit` bytes.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    limit: usize,
) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(codec, e))?;
    if out.len() > limit {
        return Err(RecordError::DecompressedTooLarge { codec, limit });
    }
    Ok(out)
}

fn snappy_raw(data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), RecordError> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(data).map_err(|e| bad(codec, e))?;
    if out.len() + len > limit {
        return Err(RecordError::DecompressedTooLarge { codec, limit });
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(data, &mut out[start..])
        .map_err(|e| bad(codec, e))?;
    Ok(())
}

/// Decompresses a batch's records section.
pub fn decompress(codec: Compression, data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => read_bounded(codec, flate2::read::GzDecoder::new(data), limit),
        Compression::Lz4 => read_bounded(codec, lz4_flex::frame::FrameDecoder::new(data), limit),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(data).map_err(|e| bad(codec, e))?;
            read_bounded(codec, decoder, limit)
        }
        Compression::Snappy => {
            let mut out = Vec::new();
            if data.starts_with(&XERIAL_MAGIC) {
                let mut rest = data
                    .get(16..)
                    .ok_or_else(|| bad(codec, "short xerial header"))?;
                while !rest.is_empty() {
                    let (len, tail) = rest
                        .split_first_chunk::<4>()
                        .ok_or_else(|| bad(codec, "short xerial block length"))?;
                    let len = u32::from_be_bytes(*len) as usize;
                    let (block, tail) = tail
                        .split_at_checked(len)
                        .ok_or_else(|| bad(codec, "short xerial block"))?;
                    snappy_raw(block, limit, &mut out)?;
                    rest = tail;
                }
            } else {
                snappy_raw(data, limit, &mut out)?;
            }
            Ok(out)
        }
    }
}

/// Compresses a records section with `codec` (snappy in xerial framing, which every client
/// reads).
pub fn compress(codec: Compression, data: &[u8]) -> Vec<u8> {
    match codec {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder
                .write_all(data)
                .expect("writing to a Vec cannot fail");
            encoder.finish().expect("writing to a Vec cannot fail")
        }
        Compression::Lz4 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder
                .write_all(data)
                .expect("writing to a Vec cannot fail");
            encoder.finish().expect("writing to a Vec cannot fail")
        }
        Compression::Zstd => {
            zstd::stream::encode_all(data, 3).expect("writing to a Vec cannot fail")
        }
        Compression::Snappy => {
            let mut out = Vec::with_capacity(data.len() / 2 + 32);
            out.extend_from_slice(&XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut encoder = snap::raw::Encoder::new();
            for block in data.chunks(XERIAL_BLOCK) {
                let compressed = encoder
                    .compress_vec(block)
                    .expect("snappy compresses any block of 32 KiB");
                out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
                out.extend_from_slice(&compressed);
            }
            out
        }
    }
}

/// The batch with its records compressed by `target` instead (header kept, attributes, length
/// and CRC recomputed). Decompression is bounded by `limit` bytes.
pub fn recompress(
    batch: &RecordBatch,
    target: Compression,
    limit: usize,
) -> Result<RecordBatch, RecordError> {
    let source = batch.attributes().compression()?;
    if source == target {
        return Ok(batch.clone());
    }
    let records = decompress(source, &batch.records_bytes(), limit)?;
    batch.with_records_section(
        &compress(target, &records),
        HeaderChanges {
            compression: Some(target),
            ..HeaderChanges::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in ALL {
            let compressed = compress(codec, &data);
            assert_eq!(
                decompress(codec, &compressed, 1 << 20).unwrap(),
                data,
                "{codec:?}"
            );
        }
        // Raw (unframed) snappy, as librdkafka writes it.
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, 1 << 20).unwrap(),
            data
        );
    }

    #[test]
    fn recompressed_batches_stay_valid_and_keep_their_records() {
        let original =
            RecordBatch::new(crate::record::batch_of(50, 200, 1_700_000_000_000)).unwrap();
        let plain: Vec<_> = original
            .record_views()
            .unwrap()
            .map(|r| r.value.unwrap().to_vec())
            .collect();
        for codec in ALL.into_iter().skip(1) {
            let packed = recompress(&original, codec, 1 << 20).unwrap();
            packed.check_integrity().unwrap();
            packed.validate_from_client().unwrap();
            assert_eq!(packed.attributes().compression().unwrap(), codec);
            assert_eq!(packed.record_count(), 50);
            let back = recompress(&packed, Compression::None, 1 << 20).unwrap();
            let values: Vec<_> = back
                .record_views()
                .unwrap()
                .map(|r| r.value.unwrap().to_vec())
                .collect();
            assert_eq!(values, plain, "{codec:?}");
        }
    }

    #[test]
    fn bombs_and_garbage_are_refused() {
        let zeros = vec![0u8; 4 << 20];
        for codec in ALL.into_iter().skip(1) {
            let bomb = compress(codec, &zeros);
            assert!(bomb.len() < 1 << 20, "{codec:?} compresses zeros");
            assert!(
                matches!(
                    decompress(codec, &bomb, 1 << 20),
                    Err(RecordError::DecompressedTooLarge { .. })
                ),
                "{codec:?}"
            );
            assert!(
                decompress(codec, b"definitely not compressed data", 1 << 20).is_err(),
                "{codec:?}"
            );
        }
    }
}
