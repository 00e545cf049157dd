//! Recompression cost per codec, on a 64 KiB batch of 1 KiB records with realistic (textual,
//! repetitive) values: compress an uncompressed batch to the codec, and decompress it back, as
//! the broker does when a topic's compression.type differs from the producer's.
//!
//! The same batches through the log cleaner's record filter (keep every other record), which
//! decompresses, drops records and recompresses in the batch's own codec: the CPU cost per
//! byte of compacting a segment.
//!
//! `cargo bench --bench codecs`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir::record::filter::filter_batch;
use weir::record::{codec, BatchBuilder, Compression, NewRecord, RecordBatch};

fn sample_batch() -> RecordBatch {
    let mut builder = BatchBuilder::new();
    for i in 0..64 {
        let value = format!(
            "{{\"order\":{i},\"customer\":\"c-{}\",\"items\":[{}],\"note\":\"{}\"}}",
            i % 17,
            (0..20)
                .map(|n| (n * i % 97).to_string())
                .collect::<Vec<_>>()
                .join(","),
            "lorem ipsum dolor sit amet ".repeat(30)
        );
        let value = &value.as_bytes()[..value.len().min(1024)];
        builder.push(NewRecord {
            key: Some(format!("key-{i}").as_bytes()),
            value: Some(value),
            timestamp_ms: 1_700_000_000_000 + i,
        });
    }
    RecordBatch::new(builder.build()).expect("batch")
}

fn recompress(c: &mut Criterion) {
    let plain = sample_batch();
    let mut group = c.benchmark_group("recompress_64KiB_batch");
    group.throughput(Throughput::Bytes(plain.size_bytes() as u64));
    for (name, target) in [
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        let packed = codec::recompress(&plain, target, 1 << 20).expect("compress");
        println!(
            "{name}: {} -> {} bytes ({:.2}x)",
            plain.size_bytes(),
            packed.size_bytes(),
            plain.size_bytes() as f64 / packed.size_bytes() as f64
        );
        group.bench_function(format!("compress_{name}"), |b| {
            b.iter(|| codec::recompress(&plain, target, 1 << 20).expect("compress"))
        });
        group.bench_function(format!("decompress_{name}"), |b| {
            b.iter(|| codec::recompress(&packed, Compression::None, 1 << 20).expect("decompress"))
        });
    }
    group.finish();
}

fn compaction_filter(c: &mut Criterion) {
    let plain = sample_batch();
    let mut group = c.benchmark_group("compaction_filter_64KiB_batch");
    group.throughput(Throughput::Bytes(plain.size_bytes() as u64));
    for (name, codec_id) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        let stored = codec::recompress(&plain, codec_id, 1 << 20).expect("compress");
        group.bench_function(format!("keep_half_{name}"), |b| {
            b.iter(|| filter_batch(&stored, 1 << 20, |_, offset| offset % 2 == 0).expect("filter"))
        });
    }
    group.finish();
}

criterion_group!(benches, recompress, compaction_filter);
criterion_main!(benches);
