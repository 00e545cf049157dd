//! Append + durable latency percentiles (criterion reports means; an operator needs the tail):
//! 4 KiB batches appended one at a time, each awaited until fdatasync'ed (acks=all default),
//! next to the raw cost of a 4 KiB O_DIRECT write + fdatasync on the same disk in the same run.
//!
//! `cargo bench --bench log_latency` (WEIR_LATENCY_SAMPLES=N to change the 5000 default).

mod support;

use std::time::{Duration, Instant};

use glommio::io::OpenOptions;
use hdrhistogram::Histogram;
use support::{bench_dir, BenchShard};
use weir::log::{Durability, LogConfig};
use weir::record::batch_of;

fn report(name: &str, histogram: &Histogram<u64>) {
    println!(
        "{name:<40} samples {:>6}  p50 {:>6} us  p99 {:>6} us  p99.9 {:>6} us  max {:>6} us",
        histogram.len(),
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
        histogram.value_at_quantile(0.999),
        histogram.max(),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let samples: u64 = std::env::var("WEIR_LATENCY_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let shard = BenchShard::start(bench_dir("latency"), LogConfig::default());
    let batch = batch_of(4, 1000, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    shard.run(Box::new(move |log| {
        Box::pin(async move {
            let mut weir = Histogram::<u64>::new(3).expect("histogram");
            let mut raw = Histogram::<u64>::new(3).expect("histogram");
            let raw_path = log.dir().join("raw-fdatasync-probe");
            let raw_file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .dma_open(&raw_path)
                .await
                .expect("open raw file");
            raw_file
                .pre_allocate(64 << 20, false)
                .await
                .expect("preallocate");
            // Interleave the two so that both see the same machine noise.
            for i in 0..samples {
                let start = Instant::now();
                let info = log.append(batch.clone()).expect("append");
                log.wait_for(info.last_offset + 1, Durability::Synced)
                    .await
                    .expect("sync");
                weir.record(start.elapsed().as_micros() as u64)
                    .expect("record");

                let mut buffer = raw_file.alloc_dma_buffer(4096);
                buffer.as_bytes_mut().fill(i as u8);
                let start = Instant::now();
                raw_file
                    .write_at(buffer, (i % 16_384) * 4096)
                    .await
                    .expect("raw write");
                raw_file.fdatasync().await.expect("raw sync");
                raw.record(start.elapsed().as_micros() as u64)
                    .expect("record");
            }
            raw_file.close().await.expect("close raw file");
            tx.send((weir, raw)).expect("send histograms");
            Duration::ZERO
        })
    }));
    let (weir, raw) = rx.recv().expect("histograms");
    report("weir append 4KiB + wait durable", &weir);
    report("raw O_DIRECT 4KiB write + fdatasync", &raw);
    println!(
        "median ratio weir/raw: {:.2}",
        weir.value_at_quantile(0.5) as f64 / raw.value_at_quantile(0.5).max(1) as f64
    );
}
