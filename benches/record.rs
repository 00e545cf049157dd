//! Batch validation throughput: CRC-32C over 1 MiB of record batches, and the checksum alone
//! beside the `crc32c` crate's (SSE4.2 `crc32` instruction) that it replaced.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir::record::{batch_of, split_batches, RecordBatch};

fn one_mib_of_batches(batch_records: usize) -> Bytes {
    let batch = batch_of(batch_records, 1000, 0);
    let mut out = Vec::with_capacity(1 << 20);
    while out.len() + batch.len() <= 1 << 20 {
        out.extend_from_slice(&batch);
    }
    Bytes::from(out)
}

fn validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    for (name, records) in [("64KiB_batches", 62), ("16KiB_batches", 15)] {
        let records_bytes = one_mib_of_batches(records);
        group.throughput(Throughput::Bytes(records_bytes.len() as u64));
        group.bench_function(format!("crc32c_1MiB_{name}"), |b| {
            b.iter(|| {
                for batch in split_batches(records_bytes.clone()) {
                    let batch: RecordBatch = batch.expect("well formed");
                    batch.validate_from_client().expect("valid");
                }
            })
        });
    }
    group.finish();
}

fn checksum(c: &mut Criterion) {
    let data = one_mib_of_batches(62);
    let mut group = c.benchmark_group("checksum_1MiB");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("crc_fast", |b| b.iter(|| weir::checksum::crc32c(&data)));
    group.bench_function("crc32c_crate", |b| b.iter(|| crc32c::crc32c(&data)));
    group.finish();
}

criterion_group!(benches, validate, checksum);
criterion_main!(benches);
