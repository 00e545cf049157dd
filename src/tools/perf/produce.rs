//! `weir perf produce`: K producers send N records (or for a duration) of S bytes, flat out or
//! at a fixed total rate. Latency is measured from when each record was *due* to be sent, not
//! when the producer got round to it: at a fixed rate a stalled broker shows as latency instead
//! of quietly lowering the load (no coordinated omission).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use serde_json::json;

use super::report::{new_histogram, Report};
use super::schedule::{RealClock, Release, Schedule};
use super::{
    build_report, parse_acks, parse_compression, payload, Common, Counters, Outcome, Progress,
    RunClock,
};
use crate::tools::ToolError;

#[derive(Args, Debug, Clone)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: Common,
    /// Records to send in all (default 1,000,000 unless --duration-secs is given).
    #[arg(long, value_name = "N", conflicts_with = "duration_secs")]
    pub num_records: Option<u64>,
    /// Send for this long instead of a number of records.
    #[arg(long, value_name = "SECS")]
    pub duration_secs: Option<u64>,
    /// Bytes of each record's value (no key).
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub record_size: usize,
    /// Records per second over all producers; flat out when not given.
    #[arg(long, value_name = "RECORDS_PER_SEC")]
    pub rate: Option<f64>,
    /// all (or -1), 1 or 0.
    #[arg(long, default_value = "1", value_parser = parse_acks, allow_hyphen_values = true)]
    pub acks: String,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none", value_parser = parse_compression)]
    pub compression: String,
    /// The producer's batch.size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 65_536)]
    pub batch_size: usize,
    /// The producer's linger.ms.
    #[arg(long, value_name = "MS", default_value_t = 5)]
    pub linger_ms: u64,
    /// Producer clients, each on its own thread with its own connections.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub producers: usize,
    /// Send in transactions, committing each after this long (kafka-producer-perf-test's
    /// --transaction-duration-ms); 0: no transactions.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub transaction_duration_ms: u64,
    /// The transactional id of a transactional run (producer K uses `ID-K`).
    #[arg(long, value_name = "ID", default_value = "weir-perf")]
    pub transactional_id: String,
}

/// How long each producer sends: a share of the records, or until a deadline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quota {
    Records(u64),
    Until(Instant),
}

impl ProduceArgs {
    fn check(&self) -> Result<(), ToolError> {
        let usage = |text: &str| Err(ToolError::Usage(text.to_string()));
        if self.producers == 0 {
            return usage("--producers must be at least 1");
        }
        if self
            .rate
            .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
        {
            return usage("--rate must be a positive number of records per second");
        }
        if self.duration_secs == Some(0) || self.num_records == Some(0) {
            return usage("--num-records and --duration-secs must be at least 1");
        }
        Ok(())
    }

    fn settings(&self) -> serde_json::Value {
        json!({
            "topic": self.common.topic,
            "record_size": self.record_size,
            "acks": self.acks,
            "compression": self.compression,
            "batch_size": self.batch_size,
            "linger_ms": self.linger_ms,
            "producers": self.producers,
            "rate": self.rate,
            "num_records": self.num_records,
            "duration_secs": self.duration_secs,
            "transaction_duration_ms": self.transaction_duration_ms,
        })
    }

    fn producer_defaults(&self) -> Vec<(&'static str, String)> {
        producer_defaults(
            &self.acks,
            &self.compression,
            self.batch_size,
            self.linger_ms,
        )
    }
}

/// The librdkafka settings of a perf producer.
pub(super) fn producer_defaults(
    acks: &str,
    compression: &str,
    batch_size: usize,
    linger_ms: u64,
) -> Vec<(&'static str, String)> {
    vec![
        ("acks", acks.to_string()),
        ("compression.type", compression.to_string()),
        ("batch.size", batch_size.to_string()),
        ("linger.ms", linger_ms.to_string()),
        // Room for a second of sending at 1 GB/s, so the client's queue is not the limit.
        ("queue.buffering.max.messages", "2000000".into()),
        ("queue.buffering.max.kbytes", "2097151".into()),
    ]
}

/// Splits `total` records over `producers` (the first ones take the remainder).
pub fn share(total: u64, producers: usize, index: usize) -> u64 {
    let producers = producers as u64;
    total / producers + u64::from((index as u64) < total % producers)
}

pub fn run(args: ProduceArgs) -> Result<Report, ToolError> {
    args.check()?;
    args.common.ensure_topic()?;
    let counters = Arc::new(Counters::default());
    let clock = RunClock::start(&args.common);
    let progress = Progress::start(counters.clone(), "acknowledged", args.common.quiet);
    let total = args.num_records.unwrap_or(1_000_000);
    let deadline = args
        .duration_secs
        .map(|secs| clock.start + Duration::from_secs(secs));
    let value = Arc::new(payload(args.record_size, 0x5eed));
    let senders: Vec<_> = (0..args.producers)
        .map(|index| {
            let quota = match deadline {
                Some(at) => Quota::Until(at),
                None => Quota::Records(share(total, args.producers, index)),
            };
            let mut config = args.common.client_config(&args.producer_defaults());
            let transactions = (args.transaction_duration_ms > 0).then(|| {
                config.set(
                    "transactional.id",
                    format!("{}-{index}", args.transactional_id),
                );
                Duration::from_millis(args.transaction_duration_ms)
            });
            let rate = args.rate.map(|rate| rate / args.producers as f64);
            let counters = counters.clone();
            let value = value.clone();
            let topic = args.common.topic.clone();
            std::thread::spawn(move || {
                let plan = SendPlan {
                    quota,
                    rate,
                    transactions,
                };
                send(config, &topic, &value, plan, clock.start, counters)
            })
        })
        .collect();
    let mut latency = new_histogram();
    for sender in senders {
        let histogram = sender
            .join()
            .map_err(|_| ToolError::Usage("a producer thread panicked".into()))??;
        latency
            .add(&histogram)
            .map_err(|e| ToolError::Usage(format!("cannot merge latencies: {e:?}")))?;
    }
    let elapsed = clock.start.elapsed();
    let timeline = progress.finish();
    let records = counters.records.load(Ordering::Relaxed);
    let bytes = counters.bytes.load(Ordering::Relaxed);
    let outcome = Outcome {
        records,
        bytes,
        elapsed,
        target_records: deadline.is_none().then_some(total),
        latencies: vec![("produce", latency)],
        settings: args.settings(),
        transactional: args.transaction_duration_ms > 0,
    };
    Ok(build_report(
        "produce",
        &args.common,
        clock,
        &counters,
        timeline,
        outcome,
    ))
}

impl Quota {
    fn allows(&self, sent: u64, now: Instant) -> bool {
        match self {
            Quota::Records(limit) => sent < *limit,
            Quota::Until(deadline) => now < *deadline,
        }
    }
}

/// Delivery reports of one producer: latency from the due time (carried as the record's
/// opaque, in nanoseconds since the run's start) to the acknowledgement.
pub(super) struct Deliveries {
    pub start: Instant,
    pub counters: Arc<Counters>,
    pub latency: Mutex<Histogram<u64>>,
}

impl Deliveries {
    /// The acknowledgement latencies so far.
    pub(super) fn latency(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| new_histogram())
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, due_nanos: usize) {
        match result {
            Ok(message) => {
                let acked = self.start.elapsed().as_nanos() as u64;
                let micros = acked.saturating_sub(due_nanos as u64) / 1000;
                if let Ok(mut latency) = self.latency.lock() {
                    latency.saturating_record(micros.max(1));
                }
                self.counters.completed(message.payload_len());
            }
            Err((error, _)) => self.counters.failed(|| error.to_string()),
        }
    }
}

/// A ThreadedProducer polls its delivery reports on its own thread.
pub(super) fn producer(
    config: &rdkafka::ClientConfig,
    start: Instant,
    counters: Arc<Counters>,
) -> Result<ThreadedProducer<Deliveries>, ToolError> {
    config
        .create_with_context(Deliveries {
            start,
            counters,
            latency: Mutex::new(new_histogram()),
        })
        .map_err(|e| ToolError::client("cannot create the producer", e))
}

/// What one producer sends, how fast, and in what transactions.
struct SendPlan {
    quota: Quota,
    rate: Option<f64>,
    /// Commit a transaction after this long (a transactional producer), or none.
    transactions: Option<Duration>,
}

/// One producer's loop; returns its latency histogram once everything sent is acknowledged
/// (or failed). A transactional producer commits every `transactions` (the commit's wait
/// counts in the latency of the records due meanwhile) and once more at the end.
fn send(
    config: rdkafka::ClientConfig,
    topic: &str,
    value: &[u8],
    plan: SendPlan,
    start: Instant,
    counters: Arc<Counters>,
) -> Result<Histogram<u64>, ToolError> {
    let producer = producer(&config, start, counters.clone())?;
    let timeout = Duration::from_secs(60);
    let txn_error = |what: &str, e: KafkaError| ToolError::client(what.to_string(), e);
    if plan.transactions.is_some() {
        producer
            .init_transactions(timeout)
            .map_err(|e| txn_error("init_transactions", e))?;
        producer
            .begin_transaction()
            .map_err(|e| txn_error("begin_transaction", e))?;
    }
    let mut began = Instant::now();
    let mut failure = None;
    let mut pacer = RealClock::for_this_thread();
    Schedule::new(start, plan.rate).run(&mut pacer, |slot| {
        // Ends at the quota; a timed run sends every record due before its deadline.
        if !plan.quota.allows(slot.index, slot.due) {
            return Release::Stop;
        }
        if plan
            .transactions
            .is_some_and(|every| began.elapsed() >= every)
        {
            let committed = producer
                .commit_transaction(timeout)
                .and_then(|()| producer.begin_transaction());
            if let Err(e) = committed {
                failure = Some(txn_error("commit_transaction", e));
                return Release::Stop;
            }
            counters.transactions.fetch_add(1, Ordering::Relaxed);
            began = Instant::now();
        }
        enqueue(&producer, topic, value, slot.due - start, &counters);
        Release::Sent
    });
    if let Some(failure) = failure {
        return Err(failure);
    }
    if plan.transactions.is_some() {
        producer
            .commit_transaction(timeout)
            .map_err(|e| txn_error("commit_transaction", e))?;
        counters.transactions.fetch_add(1, Ordering::Relaxed);
    }
    // Everything enqueued is acknowledged or failed within librdkafka's delivery timeout.
    let _ = producer.flush(Duration::from_secs(300));
    Ok(producer.context().latency())
}

/// Hands one record to librdkafka, waiting while its queue is full (the wait counts as
/// latency: the record was due).
pub(super) fn enqueue(
    producer: &ThreadedProducer<Deliveries>,
    topic: &str,
    value: &[u8],
    due: Duration,
    counters: &Counters,
) {
    let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, due.as_nanos() as usize)
        .payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_micros(100));
            }
            Err((error, _)) => {
                counters.failed(|| error.to_string());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ProduceArgs,
    }

    fn parse(line: &str) -> Result<ProduceArgs, clap::Error> {
        Cli::try_parse_from(line.split_whitespace()).map(|cli| cli.args)
    }

    #[test]
    fn defaults_are_kafka_perf_test_like() {
        let args = parse("perf t").unwrap();
        assert_eq!(args.common.topic, "t");
        assert_eq!(args.common.partitions, 1);
        assert_eq!(args.record_size, 1024);
        assert_eq!(args.acks, "1");
        assert_eq!(args.compression, "none");
        assert_eq!(args.batch_size, 65_536);
        assert_eq!(args.producers, 1);
        assert_eq!(args.rate, None);
        assert_eq!(args.common.connection.bootstrap_server, "localhost:9092");
        args.check().unwrap();
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse("perf t --acks 2").is_err());
        assert!(parse("perf t --compression brotli").is_err());
        assert!(parse("perf t --num-records 5 --duration-secs 5").is_err());
        assert!(parse("perf t --producers 0").unwrap().check().is_err());
        assert!(parse("perf t --rate 0").unwrap().check().is_err());
        assert!(parse("perf t --rate=-5").unwrap().check().is_err());
        assert!(parse("perf t --num-records 0").unwrap().check().is_err());
        let args = parse("perf t --acks -1 --client-property enable.idempotence=true").unwrap();
        assert_eq!(args.acks, "all");
        assert_eq!(
            args.common.client_properties,
            vec![("enable.idempotence".to_string(), "true".to_string())]
        );
    }

    #[test]
    fn records_are_shared_out_exactly() {
        let shares: Vec<u64> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(shares, vec![4, 3, 3]);
        assert_eq!(
            (0..8).map(|i| share(1_000_003, 8, i)).sum::<u64>(),
            1_000_003
        );
    }

    #[test]
    fn a_quota_ends_by_count_or_time() {
        let now = Instant::now();
        assert!(Quota::Records(2).allows(1, now));
        assert!(!Quota::Records(2).allows(2, now));
        let until = Quota::Until(now + Duration::from_secs(1));
        assert!(until.allows(u64::MAX - 1, now));
        assert!(!until.allows(0, now + Duration::from_secs(2)));
    }
}
