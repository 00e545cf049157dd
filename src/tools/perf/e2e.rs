//! `weir perf e2e`: a producer sends at a fixed rate while a consumer in the same process reads
//! the same partitions; each record carries the time it was due to be sent, so end-to-end
//! latency (due → consumed) and produce latency (due → acknowledged) come from one clock
//! (Kafka's EndToEndLatency tool, at a rate instead of one record at a time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::json;

use super::produce::{enqueue, producer, producer_defaults};
use super::report::{new_histogram, Report};
use super::schedule::{RealClock, Release, Schedule};
use super::{
    build_report, parse_acks, parse_compression, payload, Common, Counters, Outcome, Progress,
    RunClock,
};
use crate::tools::ToolError;

/// Run id (8 bytes) and due time (8 bytes, nanoseconds since the run's start) lead each value.
const STAMP_BYTES: usize = 16;

#[derive(Args, Debug, Clone)]
pub struct E2eArgs {
    #[command(flatten)]
    pub common: Common,
    /// Records per second.
    #[arg(long, value_name = "RECORDS_PER_SEC", default_value_t = 1000.0)]
    pub rate: f64,
    /// How long to send.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub duration_secs: u64,
    /// Bytes of each record's value (at least 16: the stamp).
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub record_size: usize,
    /// all (or -1), 1 or 0.
    #[arg(long, default_value = "all", value_parser = parse_acks, allow_hyphen_values = true)]
    pub acks: String,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none", value_parser = parse_compression)]
    pub compression: String,
    /// The producer's batch.size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 65_536)]
    pub batch_size: usize,
    /// The producer's linger.ms (0: send each record as soon as possible).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub linger_ms: u64,
    /// After the last send, wait this long for the consumer to see every record.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
}

impl E2eArgs {
    fn check(&self) -> Result<(), ToolError> {
        if !(self.rate > 0.0 && self.rate.is_finite()) {
            return Err(ToolError::Usage(
                "--rate must be a positive number of records per second".into(),
            ));
        }
        if self.record_size < STAMP_BYTES {
            return Err(ToolError::Usage(format!(
                "--record-size must be at least {STAMP_BYTES}: each record carries its send time"
            )));
        }
        if self.duration_secs == 0 {
            return Err(ToolError::Usage(
                "--duration-secs must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The run's stamp on a value; `None` for records of other runs.
pub fn read_stamp(value: &[u8], run_id: u64) -> Option<u64> {
    let id = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let due = u64::from_be_bytes(value.get(8..STAMP_BYTES)?.try_into().ok()?);
    (id == run_id).then_some(due)
}

pub fn write_stamp(value: &mut [u8], run_id: u64, due_nanos: u64) {
    value[..8].copy_from_slice(&run_id.to_be_bytes());
    value[8..STAMP_BYTES].copy_from_slice(&due_nanos.to_be_bytes());
}

pub fn run(args: E2eArgs) -> Result<Report, ToolError> {
    args.check()?;
    let partitions = args.common.ensure_topic()?;
    let topic = args.common.topic.clone();
    let run_id = u64::from(std::process::id()) << 32 | u64::from(rand_seed());

    // The consumer starts at each partition's current end, so it sees only this run's records.
    let consumer: BaseConsumer = args
        .common
        .client_config(&[
            ("group.id", format!("weir-perf-e2e-{run_id:x}")),
            ("enable.auto.commit", "false".into()),
            ("fetch.wait.max.ms", "100".into()),
        ])
        .create()
        .map_err(|e| ToolError::client("cannot create the consumer", e))?;
    let mut assignment = TopicPartitionList::new();
    for &partition in &partitions {
        let (_, high) = consumer
            .fetch_watermarks(&topic, partition, args.common.connection.timeout())
            .map_err(|e| ToolError::client("cannot read the topic's offsets", e))?;
        assignment
            .add_partition_offset(&topic, partition, Offset::Offset(high))
            .map_err(|e| ToolError::client("cannot assign", e))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|e| ToolError::client("cannot start consuming", e))?;

    let acked = Arc::new(Counters::default());
    let consumed = Arc::new(Counters::default());
    let clock = RunClock::start(&args.common);
    let start = clock.start;
    let progress = Progress::start(consumed.clone(), "consumed", args.common.quiet);
    // u64::MAX until the producer knows how many it sent.
    let sent_total = Arc::new(AtomicU64::new(u64::MAX));
    let reader = {
        let consumed = consumed.clone();
        let sent_total = sent_total.clone();
        let idle_limit = Duration::from_millis(args.timeout_ms);
        std::thread::spawn(move || {
            read(consumer, run_id, start, &consumed, &sent_total, idle_limit)
        })
    };

    let config = args.common.client_config(&producer_defaults(
        &args.acks,
        &args.compression,
        args.batch_size,
        args.linger_ms,
    ));
    let producer = producer(&config, start, acked.clone())?;
    let mut value = payload(args.record_size, 0xe2e);
    let deadline = start + Duration::from_secs(args.duration_secs);
    let mut pacer = RealClock::for_this_thread();
    let sent = Schedule::new(start, Some(args.rate)).run(&mut pacer, |slot| {
        if slot.due >= deadline {
            return Release::Stop;
        }
        let due = slot.due - start;
        write_stamp(&mut value, run_id, due.as_nanos() as u64);
        enqueue(&producer, &topic, &value, due, &acked);
        Release::Sent
    });
    let _ = producer.flush(Duration::from_secs(300));
    sent_total.store(sent, Ordering::Relaxed);
    let end_to_end = reader
        .join()
        .map_err(|_| ToolError::Usage("the consumer thread panicked".into()))?;
    let produce_latency = producer.context().latency();
    let timeline = progress.finish();
    let outcome = Outcome {
        transactional: false,
        records: consumed.records.load(Ordering::Relaxed),
        bytes: consumed.bytes.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
        target_records: Some(sent),
        latencies: vec![("produce", produce_latency), ("end_to_end", end_to_end)],
        settings: json!({
            "topic": topic,
            "partitions": partitions.len(),
            "rate": args.rate,
            "duration_secs": args.duration_secs,
            "record_size": args.record_size,
            "acks": args.acks,
            "compression": args.compression,
            "batch_size": args.batch_size,
            "linger_ms": args.linger_ms,
            "acknowledged": acked.records.load(Ordering::Relaxed),
        }),
    };
    Ok(build_report(
        "e2e",
        &args.common,
        clock,
        &acked,
        timeline,
        outcome,
    ))
}

/// Reads until every sent record arrived, or nothing arrived for `idle_limit` after the
/// producer finished.
fn read(
    consumer: BaseConsumer,
    run_id: u64,
    start: Instant,
    consumed: &Counters,
    sent_total: &AtomicU64,
    idle_limit: Duration,
) -> Histogram<u64> {
    let mut latency = new_histogram();
    let mut last_record = Instant::now();
    loop {
        let total = sent_total.load(Ordering::Relaxed);
        let received = consumed.records.load(Ordering::Relaxed);
        if received >= total || (total != u64::MAX && last_record.elapsed() > idle_limit) {
            return latency;
        }
        let Some(result) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let Ok(message) = result else {
            continue;
        };
        let Some(due) = message.payload().and_then(|v| read_stamp(v, run_id)) else {
            continue;
        };
        let now = start.elapsed().as_nanos() as u64;
        latency.saturating_record((now.saturating_sub(due) / 1000).max(1));
        consumed.completed(message.payload_len());
        last_record = Instant::now();
    }
}

/// Distinguishes this run's records from earlier runs' on the same topic.
fn rand_seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: E2eArgs,
    }

    #[test]
    fn stamps_round_trip_and_foreign_records_are_skipped() {
        let mut value = vec![0u8; 32];
        write_stamp(&mut value, 42, 1_234_567);
        assert_eq!(read_stamp(&value, 42), Some(1_234_567));
        assert_eq!(read_stamp(&value, 43), None);
        assert_eq!(read_stamp(&value[..10], 42), None);
    }

    #[test]
    fn defaults_and_limits() {
        let args = Cli::try_parse_from(["perf", "t"]).unwrap().args;
        assert_eq!(args.rate, 1000.0);
        assert_eq!(args.acks, "all");
        assert_eq!(args.linger_ms, 0);
        args.check().unwrap();
        let small = Cli::try_parse_from(["perf", "t", "--record-size", "8"])
            .unwrap()
            .args;
        assert!(small.check().is_err());
        let zero_rate = Cli::try_parse_from(["perf", "t", "--rate", "0"])
            .unwrap()
            .args;
        assert!(zero_rate.check().is_err());
    }
}
