//! Partition log throughput on a real glommio shard and direct-I/O files:
//! - append: 1 KiB records in ~64 KiB batches, written (no fsync per batch);
//! - group commit: 64 concurrent acks=all appenders of 4 KiB batches vs one at a time;
//! - read: 1 MiB from the in-memory tail vs from the segment file (cold, direct I/O).

mod support;

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use support::{bench_dir, existing_dir, BenchShard};
use weir::log::{Durability, LogConfig};
use weir::record::batch_of;

fn append(c: &mut Criterion) {
    let config = LogConfig {
        segment_bytes: 256 << 20,
        retention_ms: None,
        retention_bytes: Some(1 << 30),
        tail_cache_bytes: 8 << 20,
        ..LogConfig::default()
    };
    let shard = BenchShard::start(bench_dir("append"), config);
    let batch = batch_of(62, 1000, 0); // 62 x 1 KiB records: ~64 KiB
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("64KiB_batches_written_no_fsync", |b| {
        b.iter_custom(|iters| {
            let batch = batch.clone();
            shard.run(Box::new(move |log| {
                Box::pin(async move {
                    let start = Instant::now();
                    let mut last = 0;
                    for _ in 0..iters {
                        last = log.append(batch.clone()).expect("append").last_offset;
                        // Keep memory bounded as a broker would: wait for the writer every 256 batches.
                        if last % (62 * 256) == 62 * 256 - 1 {
                            log.wait_for(last + 1, Durability::Written)
                                .await
                                .expect("write");
                        }
                    }
                    log.wait_for(last + 1, Durability::Written)
                        .await
                        .expect("write");
                    let elapsed = start.elapsed();
                    log.apply_retention().await.expect("retention");
                    elapsed
                })
            }))
        })
    });
    group.finish();
}

fn group_commit(c: &mut Criterion) {
    let config = LogConfig {
        segment_bytes: 256 << 20,
        retention_ms: None,
        retention_bytes: Some(512 << 20),
        ..LogConfig::default()
    };
    let shard = BenchShard::start(bench_dir("group-commit"), config);
    let batch = batch_of(4, 1000, 0); // ~4 KiB
    let mut group = c.benchmark_group("durable_append");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    group.bench_function("4KiB_one_at_a_time", |b| {
        b.iter_custom(|iters| {
            let batch = batch.clone();
            shard.run(Box::new(move |log| {
                Box::pin(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let info = log.append(batch.clone()).expect("append");
                        log.wait_for(info.last_offset + 1, Durability::Synced)
                            .await
                            .expect("sync");
                    }
                    start.elapsed()
                })
            }))
        })
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("4KiB_64_concurrent_appenders", |b| {
        b.iter_custom(|iters| {
            let batch = batch.clone();
            shard.run(Box::new(move |log| {
                Box::pin(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut tasks = Vec::with_capacity(64);
                        for _ in 0..64 {
                            let log = log.clone();
                            let batch = batch.clone();
                            tasks.push(glommio::spawn_local(async move {
                                let info = log.append(batch).expect("append");
                                log.wait_for(info.last_offset + 1, Durability::Synced)
                                    .await
                                    .expect("sync");
                            }));
                        }
                        for task in tasks {
                            task.await;
                        }
                    }
                    let elapsed = start.elapsed();
                    log.apply_retention().await.expect("retention");
                    elapsed
                })
            }))
        })
    });
    group.finish();
}

fn read(c: &mut Criterion) {
    let config = LogConfig {
        tail_cache_bytes: 64 << 20,
        ..LogConfig::default()
    };
    let shard = BenchShard::start(bench_dir("read"), config);
    let batch = batch_of(62, 1000, 0);
    // 32 MiB of data, all of it in the tail cache and all of it in the file.
    let end = shard.run(Box::new(move |log| {
        Box::pin(async move {
            for _ in 0..512 {
                log.append(batch.clone()).expect("append");
            }
            log.flush().await.expect("flush");
            std::time::Duration::from_nanos(log.log_end_offset() as u64)
        })
    }));
    let end = end.as_nanos() as i64;
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(1 << 20));
    group.bench_function("1MiB_from_memory_tail", |b| {
        b.iter_custom(|iters| shard.run(read_spread(iters, end)))
    });
    group.finish();
    drop(shard);

    // Cold: a freshly opened log has an empty tail cache, so every read goes to the file.
    let cold = BenchShard::start(existing_dir("read"), LogConfig::default());
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(1 << 20));
    group.bench_function("1MiB_from_segment_file_direct_io", |b| {
        b.iter_custom(|iters| cold.run(read_spread(iters, end)))
    });
    group.finish();
}

/// `iters` reads of 1 MiB from offsets spread over the log below `end`.
fn read_spread(iters: u64, end: i64) -> support::Job {
    Box::new(move |log| {
        Box::pin(async move {
            let start = Instant::now();
            for i in 0..iters {
                let from = (i as i64 * 62 * 16) % (end - 62 * 16);
                let read = log.read(from, 1 << 20).await.expect("read");
                assert!(read.size_bytes > 0);
            }
            start.elapsed()
        })
    })
}

criterion_group!(benches, append, group_commit, read);
criterion_main!(benches);
