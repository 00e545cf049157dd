//! Batch validation throughput: CRC-32C (hardware) over 1 MiB of record batches.

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

criterion_group!(benches, validate);
criterion_main!(benches);
