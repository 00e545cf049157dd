//! `weir perf`: the load harness — what `kafka-producer-perf-test.sh` and
//! `kafka-consumer-perf-test.sh` are for Kafka, plus end-to-end latency at a fixed rate. It
//! speaks the Kafka protocol through librdkafka, so the same command measures Weir and any other
//! Kafka-compatible broker side by side (perf/README.md).

pub mod compare;
pub mod consume;
pub mod e2e;
pub mod plot;
pub mod produce;
pub mod report;
pub mod schedule;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

use super::{block_on, key_value, Connection, Output, ToolError};
use report::{allowed_cores, process_cpu, CpuUse, Report, Sample};

#[derive(Subcommand, Debug)]
pub enum PerfCommand {
    /// Produce records as fast as possible (or at --rate) and report throughput and
    /// acknowledgement latency (kafka-producer-perf-test.sh).
    ///
    /// Example: weir perf produce perf-test --num-records 1000000 --record-size 1024 --acks 1
    Produce(produce::ProduceArgs),
    /// Read a topic from the beginning and report throughput (kafka-consumer-perf-test.sh).
    ///
    /// Example: weir perf consume perf-test
    Consume(consume::ConsumeArgs),
    /// Produce at a fixed rate while consuming the same records; report end-to-end latency.
    ///
    /// Example: weir perf e2e perf-e2e --rate 10000 --duration-secs 30
    E2e(e2e::E2eArgs),
    /// Draw the latency distributions of saved JSON reports (--output json) on one panel.
    ///
    /// Example: weir perf plot -o tail.svg alone=alone.json#produce beside=beside.json#produce
    Plot(compare::PlotArgs),
}

/// What every workload takes: the topic, where to report, and the broker to account CPU to.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The topic; created with --partitions when it does not exist.
    pub topic: String,
    /// Partitions of the topic when the harness creates it.
    #[arg(long, value_name = "P", default_value_t = 1)]
    pub partitions: i32,
    /// Also report the CPU time this process (the broker) spent during the run, from
    /// /proc/PID/stat (it must run on this machine). Repeatable: the brokers of a cluster
    /// are counted together (replication's cost included).
    #[arg(long, value_name = "PID")]
    pub broker_pid: Vec<u32>,
    /// Draw the latency percentile distribution and throughput over time into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// No progress line on standard error.
    #[arg(long)]
    pub quiet: bool,
    /// A librdkafka/Kafka client property for every client of the run; repeatable
    /// (kafka-producer-perf-test's --producer-props).
    #[arg(long = "client-property", value_name = "KEY=VALUE", value_parser = key_value)]
    pub client_properties: Vec<(String, String)>,
    #[command(flatten)]
    pub connection: Connection,
}

pub fn run(command: PerfCommand) -> Result<(), ToolError> {
    let (common, report) = match command {
        PerfCommand::Produce(args) => (args.common.clone(), produce::run(args)?),
        PerfCommand::Consume(args) => (args.common.clone(), consume::run(args)?),
        PerfCommand::E2e(args) => (args.common.clone(), e2e::run(args)?),
        PerfCommand::Plot(args) => return compare::run(args),
    };
    match common.connection.output {
        Output::Table => print!("{}", report.to_text()),
        Output::Json => println!("{}", report.to_json()),
    }
    if let Some(path) = &common.plot {
        std::fs::write(path, plot::render(&report)).map_err(|source| ToolError::Io {
            what: "cannot write the plot",
            source,
        })?;
    }
    if report.complete() {
        Ok(())
    } else {
        Err(ToolError::Usage(format!(
            "the run did not complete: {} of {} records, {} failed",
            report.records,
            report
                .target_records
                .map_or_else(|| "?".into(), |t| t.to_string()),
            report.errors
        )))
    }
}

impl Common {
    /// librdkafka settings of every client of the run, with the user's properties last.
    fn client_config(&self, defaults: &[(&str, String)]) -> ClientConfig {
        let mut config = self.connection.client_config();
        config.set("client.id", "weir-perf");
        for (key, value) in defaults {
            config.set(*key, value);
        }
        for (key, value) in &self.client_properties {
            config.set(key, value);
        }
        config
    }

    /// Creates the topic with `--partitions` unless it exists; returns its partition ids.
    fn ensure_topic(&self) -> Result<Vec<i32>, ToolError> {
        let connection = &self.connection;
        let probe = connection.probe(None)?;
        match connection.topic_partitions(&probe, &self.topic) {
            Ok(partitions) => {
                if partitions.len() != self.partitions as usize && !self.quiet {
                    eprintln!(
                        "topic {} exists with {} partitions; --partitions {} ignored",
                        self.topic,
                        partitions.len(),
                        self.partitions
                    );
                }
                return Ok(partitions);
            }
            Err(ToolError::UnknownTopic(_)) => {}
            Err(e) => return Err(e),
        }
        let admin = connection.admin()?;
        let topic = NewTopic::new(&self.topic, self.partitions, TopicReplication::Fixed(-1));
        let what = format!("create topic {}", self.topic);
        let results = block_on(admin.create_topics([&topic], &connection.admin_options()))
            .map_err(|e| ToolError::client(&what, e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(ToolError::Broker { what, code }),
            }
        }
        connection.topic_partitions(&probe, &self.topic)
    }

    /// The brokers' CPU so far, summed; `None` without brokers or when one cannot be read.
    fn broker_cpu(&self) -> Option<CpuUse> {
        if self.broker_pid.is_empty() {
            return None;
        }
        let mut core_seconds = 0.0;
        for pid in &self.broker_pid {
            core_seconds += process_cpu(&pid.to_string())?.core_seconds;
        }
        Some(CpuUse { core_seconds })
    }
}

/// Progress shared by the client threads and the once-a-second reporter.
#[derive(Default)]
pub struct Counters {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    /// Transactions committed (a transactional produce run).
    pub transactions: AtomicU64,
    pub errors: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn completed(&self, bytes: usize) {
        self.records.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn failed(&self, error: impl FnOnce() -> String) {
        if self.errors.fetch_add(1, Ordering::Relaxed) == 0 {
            if let Ok(mut first) = self.first_error.lock() {
                *first = Some(error());
            }
        }
    }

    fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|first| first.clone())
    }
}

/// Samples the counters once a second: the throughput timeline, and the live progress line
/// (on standard error, so that `--json` output stays clean).
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Progress {
    pub fn start(counters: Arc<Counters>, verb: &'static str, quiet: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut timeline = Vec::new();
            let (mut records, mut bytes) = (0, 0);
            let mut next = start + Duration::from_secs(1);
            while !stopping.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now < next {
                    std::thread::sleep((next - now).min(Duration::from_millis(50)));
                    continue;
                }
                next += Duration::from_secs(1);
                let (total_records, total_bytes) = (
                    counters.records.load(Ordering::Relaxed),
                    counters.bytes.load(Ordering::Relaxed),
                );
                let sample = Sample {
                    second: timeline.len() as u64 + 1,
                    records: total_records - records,
                    bytes: total_bytes - bytes,
                };
                (records, bytes) = (total_records, total_bytes);
                if !quiet {
                    eprintln!(
                        "{:>4} s: {total_records} records {verb}, {} records/s, {:.1} MiB/s, {} errors",
                        sample.second,
                        sample.records,
                        sample.bytes as f64 / (1024.0 * 1024.0),
                        counters.errors.load(Ordering::Relaxed),
                    );
                }
                timeline.push(sample);
            }
            timeline
        });
        Progress { stop, thread }
    }

    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Payload of `size` random capital letters, as kafka-producer-perf-test generates: text a
/// codec can work on, but not trivially.
pub fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..size)
        .map(|_| {
            // xorshift64: the harness needs varied bytes, not cryptographic ones.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'A' + (state % 26) as u8
        })
        .collect()
}

/// The acks setting as librdkafka wants it (`all` is also written `-1`).
pub fn parse_acks(value: &str) -> Result<String, String> {
    match value {
        "all" | "-1" => Ok("all".into()),
        "0" | "1" => Ok(value.into()),
        other => Err(format!("`{other}`: expected all, -1, 1 or 0")),
    }
}

pub fn parse_compression(value: &str) -> Result<String, String> {
    match value {
        "none" | "gzip" | "snappy" | "lz4" | "zstd" => Ok(value.into()),
        other => Err(format!(
            "`{other}`: expected none, gzip, snappy, lz4 or zstd"
        )),
    }
}

/// The wall-clock and CPU bounds of a run, read before it starts.
struct RunClock {
    start: Instant,
    client_cpu: Option<CpuUse>,
    broker_cpu: Option<CpuUse>,
}

impl RunClock {
    fn start(common: &Common) -> Self {
        RunClock {
            start: Instant::now(),
            client_cpu: process_cpu("self"),
            broker_cpu: common.broker_cpu(),
        }
    }
}

/// The parts of a report every workload fills the same way.
struct Outcome {
    records: u64,
    bytes: u64,
    elapsed: Duration,
    target_records: Option<u64>,
    latencies: Vec<(&'static str, hdrhistogram::Histogram<u64>)>,
    settings: serde_json::Value,
    /// A transactional run: report the transactions committed.
    transactional: bool,
}

fn build_report(
    workload: &'static str,
    common: &Common,
    clock: RunClock,
    counters: &Counters,
    timeline: Vec<Sample>,
    outcome: Outcome,
) -> Report {
    Report {
        workload,
        records: outcome.records,
        bytes: outcome.bytes,
        elapsed: outcome.elapsed,
        errors: counters.errors.load(Ordering::Relaxed),
        first_error: counters.first_error(),
        transactions: outcome
            .transactional
            .then(|| counters.transactions.load(Ordering::Relaxed)),
        target_records: outcome.target_records,
        latencies: outcome.latencies,
        timeline,
        client_cpu: report::cpu_between(clock.client_cpu, process_cpu("self")),
        client_cores: allowed_cores(),
        broker_cpu: report::cpu_between(clock.broker_cpu, common.broker_cpu()),
        settings: outcome.settings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_capital_letters_and_repeatable() {
        let one = payload(4096, 7);
        assert_eq!(one.len(), 4096);
        assert!(one.iter().all(u8::is_ascii_uppercase));
        assert_eq!(one, payload(4096, 7));
        assert_ne!(one, payload(4096, 8));
        // Varied: every letter shows up.
        assert_eq!(
            one.iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            26
        );
    }

    #[test]
    fn acks_and_codecs_are_checked() {
        assert_eq!(parse_acks("-1").unwrap(), "all");
        assert_eq!(parse_acks("1").unwrap(), "1");
        assert!(parse_acks("2").is_err());
        assert_eq!(parse_compression("zstd").unwrap(), "zstd");
        assert!(parse_compression("brotli").is_err());
    }
}
