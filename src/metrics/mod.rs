//! The broker's always-on measurements: per-partition produce and fetch counters and latency
//! histograms (hdrhistogram), per-shard request latencies by API and connection counts. Each
//! shard owns its own (plain `Cell`s and `RefCell`s: no locks, no atomics); a scrape of
//! `/metrics` asks every shard for its samples over the mesh and renders them as Prometheus
//! text (`admin` module).

pub mod admin;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::shard::ops::TopicPartition;

/// Prometheus metric types used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// Quantiles from an hdrhistogram, plus `_sum` and `_count`.
    Summary,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

macro_rules! families {
    ($($ident:ident = $name:literal, $kind:ident, $help:literal;)*) => {
        $(pub static $ident: Family = Family { name: $name, kind: Kind::$kind, help: $help };)*
        /// Every family, in the order `/metrics` lists them.
        pub static FAMILIES: &[&Family] = &[$(&$ident),*];
    };
}

families! {
    PRODUCE_LATENCY = "weir_partition_produce_latency_seconds", Summary,
        "Time from a produce request reaching the partition's owner to its acks being met (includes fdatasync for acks=all).";
    PRODUCE_REQUESTS = "weir_partition_produce_requests_total", Counter,
        "Produce requests (one per partition of a request) handled by the owner.";
    PRODUCE_ERRORS = "weir_partition_produce_errors_total", Counter,
        "Produce requests the owner refused or could not make durable.";
    PRODUCE_BYTES = "weir_partition_produce_bytes_total", Counter,
        "Record batch bytes appended.";
    FETCH_LATENCY = "weir_partition_fetch_read_latency_seconds", Summary,
        "Time the owner took to read a fetch's batches (memory tail or segment file).";
    FETCH_BYTES = "weir_partition_fetch_bytes_total", Counter,
        "Record batch bytes read for fetches.";
    LOG_END_OFFSET = "weir_partition_log_end_offset", Gauge,
        "The offset the next appended record gets.";
    HIGH_WATERMARK = "weir_partition_high_watermark", Gauge,
        "The last offset consumers may read, plus one.";
    LOG_START_OFFSET = "weir_partition_log_start_offset", Gauge,
        "The first offset still in the log (retention and DeleteRecords move it).";
    REQUEST_LATENCY = "weir_request_latency_seconds", Summary,
        "Time from a request frame being read to its response being ready, per API, on the shard that read it (Fetch includes its long poll).";
    CONNECTIONS = "weir_connections", Gauge,
        "Client connections open on the shard.";
    CONNECTIONS_ACCEPTED = "weir_connections_accepted_total", Counter,
        "Client connections accepted by the shard.";
    CONNECTIONS_REFUSED = "weir_connections_refused_total", Counter,
        "Connections the shard closed at once: their address had max.connections.per.ip open.";
    AUTHENTICATION_FAILURES = "weir_authentication_failures_total", Counter,
        "SASL logins the shard refused (SASL_AUTHENTICATION_FAILED; each is logged with its peer).";
    THROTTLED_RESPONSES = "weir_throttled_responses_total", Counter,
        "Responses with a throttle (the client was over a byte-rate or request quota, KIP-219).";
    REQUEST_QUOTA_TIME = "weir_request_quota_seconds_total", Counter,
        "Time of requests measured against request_percentage quotas (KIP-124), on the shard whose client sent them; only clients under such a quota are timed.";
    REQUEST_MEMORY = "weir_request_memory_bytes", Gauge,
        "Bytes of requests read and not yet answered on the shard (bounded by queued.max.request.bytes).";
    REQUEST_MEMORY_WAITS = "weir_request_memory_waits_total", Counter,
        "Requests whose reading waited for request memory (the shard was at queued.max.request.bytes).";
    PARTITION_LEADER = "weir_partition_leader", Gauge,
        "1 when this broker leads the partition, 0 when it follows.";
    UNDER_REPLICATED = "weir_partition_under_replicated", Gauge,
        "On the leader: 1 when the ISR is smaller than the replica set (Kafka's UnderReplicatedPartitions, per partition).";
    UNDER_MIN_ISR = "weir_partition_under_min_isr", Gauge,
        "On the leader: 1 when the ISR is smaller than min.insync.replicas (acks=all writes are refused).";
    FOLLOWER_LAG = "weir_partition_follower_lag_records", Gauge,
        "On the leader: records in the leader's log the follower has not fetched yet (Kafka's replica lag).";
    ISR_SHRINKS = "weir_isr_shrinks_total", Counter,
        "ISR changes this broker's leaders had accepted that dropped a follower.";
    ISR_EXPANDS = "weir_isr_expands_total", Counter,
        "ISR changes this broker's leaders had accepted that added a follower.";
    READ_AHEAD_BYTES = "weir_read_ahead_bytes", Gauge,
        "Bytes of segment files read ahead of fetches that the shard holds (bounded by log.read.ahead.memory.bytes).";
    SEGMENT_READ_BYTES = "weir_segment_read_bytes_total", Counter,
        "Bytes the shard read from segment files for fetches (read-ahead included).";
    SEGMENT_READ_WAITS = "weir_segment_read_waits_total", Counter,
        "Times a fetch waited for a segment file read: one not read ahead, or not finished yet.";
    OFFLINE_PARTITIONS = "weir_offline_partitions", Gauge,
        "Partitions without a leader in this broker's view of the cluster metadata (Kafka's OfflinePartitionsCount), reported by shard 0.";
}

/// Quantiles every summary reports (`1.0` is the maximum).
const QUANTILES: [f64; 6] = [0.5, 0.9, 0.99, 0.999, 0.9999, 1.0];

/// One value of one series; `labels` are rendered (`topic="t",partition="0"`). Plain data, so
/// shards send them to the scraping shard over the mesh.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub family: &'static Family,
    pub labels: String,
    pub value: SampleValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    Number(f64),
    /// (quantile, seconds) pairs, sum in seconds, count.
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
}

/// Latencies in microseconds, 1 µs to 10 min, 2 significant digits: about 10 KiB a
/// histogram, created on a partition's first produce or fetch (idle partitions cost none).
struct Latency(Histogram<u32>);

impl Latency {
    fn new() -> Self {
        Latency(Histogram::new_with_bounds(1, 600_000_000, 2).expect("static bounds are valid"))
    }

    fn record(&mut self, elapsed: Duration) {
        self.0
            .saturating_record((elapsed.as_micros() as u64).max(1));
    }

    fn summary(&self) -> SampleValue {
        let histogram = &self.0;
        let quantiles = QUANTILES
            .iter()
            .map(|&q| {
                let micros = if q >= 1.0 {
                    histogram.max()
                } else {
                    histogram.value_at_quantile(q)
                };
                (q, micros as f64 / 1e6)
            })
            .collect();
        SampleValue::Summary {
            quantiles,
            sum: histogram.mean() * histogram.len() as f64 / 1e6,
            count: histogram.len(),
        }
    }
}

#[derive(Default)]
struct PartitionMetrics {
    produce_latency: Option<Latency>,
    produce_requests: u64,
    produce_errors: u64,
    produce_bytes: u64,
    fetch_latency: Option<Latency>,
    fetch_bytes: u64,
}

/// One shard's measurements.
#[derive(Default)]
pub struct ShardMetrics {
    partitions: RefCell<HashMap<TopicPartition, PartitionMetrics>>,
    /// By Kafka API key.
    requests: RefCell<BTreeMap<i16, Latency>>,
    connections: Cell<u64>,
    connections_accepted: Cell<u64>,
    connections_refused: Cell<u64>,
    authentication_failures: Cell<u64>,
    throttled_responses: Cell<u64>,
    request_quota_nanos: Cell<u64>,
    request_memory_waits: Cell<u64>,
    isr_shrinks: Cell<u64>,
    isr_expands: Cell<u64>,
}

/// What the owner reports of one partition's log at scrape time.
pub struct LogOffsets {
    pub tp: TopicPartition,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    /// In a cluster: the partition's replication as this broker sees it.
    pub replication: Option<ReplicationSample>,
}

/// A partition's replication at scrape time.
pub struct ReplicationSample {
    pub leader: bool,
    pub under_replicated: bool,
    pub under_min_isr: bool,
    /// On the leader: (follower, records behind the leader's written end).
    pub follower_lag: Vec<(i32, i64)>,
}

impl ShardMetrics {
    pub fn produced(&self, tp: &TopicPartition, bytes: usize, elapsed: Duration, ok: bool) {
        let mut partitions = self.partitions.borrow_mut();
        let metrics = partition_entry(&mut partitions, tp);
        metrics.produce_requests += 1;
        if ok {
            metrics.produce_bytes += bytes as u64;
            metrics
                .produce_latency
                .get_or_insert_with(Latency::new)
                .record(elapsed);
        } else {
            metrics.produce_errors += 1;
        }
    }

    pub fn fetched(&self, tp: &TopicPartition, bytes: usize, elapsed: Duration) {
        let mut partitions = self.partitions.borrow_mut();
        let metrics = partition_entry(&mut partitions, tp);
        metrics.fetch_bytes += bytes as u64;
        metrics
            .fetch_latency
            .get_or_insert_with(Latency::new)
            .record(elapsed);
    }

    pub fn request_handled(&self, api_key: i16, elapsed: Duration) {
        self.requests
            .borrow_mut()
            .entry(api_key)
            .or_insert_with(Latency::new)
            .record(elapsed);
    }

    pub fn connection_opened(&self) {
        self.connections.set(self.connections.get() + 1);
        self.connections_accepted
            .set(self.connections_accepted.get() + 1);
    }

    pub fn connection_closed(&self) {
        self.connections
            .set(self.connections.get().saturating_sub(1));
    }

    pub fn authentication_failed(&self) {
        self.authentication_failures
            .set(self.authentication_failures.get() + 1);
    }

    pub fn request_throttled(&self) {
        self.throttled_responses
            .set(self.throttled_responses.get() + 1);
    }

    pub fn request_time_measured(&self, time: std::time::Duration) {
        let nanos = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        self.request_quota_nanos
            .set(self.request_quota_nanos.get().saturating_add(nanos));
    }

    pub fn connection_refused(&self) {
        self.connections_refused
            .set(self.connections_refused.get() + 1);
    }

    /// An ISR change of one of this shard's leaders was accepted: `shrunk` dropped a
    /// follower, else one was added.
    pub fn isr_changed(&self, shrunk: bool) {
        let counter = if shrunk {
            &self.isr_shrinks
        } else {
            &self.isr_expands
        };
        counter.set(counter.get() + 1);
    }

    pub fn request_memory_waited(&self) {
        self.request_memory_waits
            .set(self.request_memory_waits.get() + 1);
    }

    /// A deleted partition's series go with it.
    pub fn forget(&self, tp: &TopicPartition) {
        self.partitions.borrow_mut().remove(tp);
    }

    /// Every sample of this shard: its partitions' counters and latencies, the offsets of the
    /// logs it owns, and its own request and connection figures (`request_memory`: bytes of
    /// requests held now).
    pub fn samples(
        &self,
        shard: usize,
        logs: &[LogOffsets],
        request_memory: u64,
        read_ahead: crate::log::ReadAheadStats,
        offline_partitions: Option<u64>,
    ) -> Vec<Sample> {
        let mut samples = Vec::new();
        let mut push = |family: &'static Family, labels: &str, value: SampleValue| {
            samples.push(Sample {
                family,
                labels: labels.to_string(),
                value,
            })
        };
        let number = |value: u64| SampleValue::Number(value as f64);
        for (tp, metrics) in self.partitions.borrow().iter() {
            let labels = partition_labels(tp);
            push(&PRODUCE_REQUESTS, &labels, number(metrics.produce_requests));
            push(&PRODUCE_ERRORS, &labels, number(metrics.produce_errors));
            push(&PRODUCE_BYTES, &labels, number(metrics.produce_bytes));
            push(&FETCH_BYTES, &labels, number(metrics.fetch_bytes));
            if let Some(latency) = &metrics.produce_latency {
                push(&PRODUCE_LATENCY, &labels, latency.summary());
            }
            if let Some(latency) = &metrics.fetch_latency {
                push(&FETCH_LATENCY, &labels, latency.summary());
            }
        }
        for log in logs {
            let labels = partition_labels(&log.tp);
            let offset = |value: i64| SampleValue::Number(value as f64);
            push(&LOG_START_OFFSET, &labels, offset(log.log_start_offset));
            push(&HIGH_WATERMARK, &labels, offset(log.high_watermark));
            push(&LOG_END_OFFSET, &labels, offset(log.log_end_offset));
            if let Some(r) = &log.replication {
                let flag = |on: bool| SampleValue::Number(if on { 1.0 } else { 0.0 });
                push(&PARTITION_LEADER, &labels, flag(r.leader));
                if r.leader {
                    push(&UNDER_REPLICATED, &labels, flag(r.under_replicated));
                    push(&UNDER_MIN_ISR, &labels, flag(r.under_min_isr));
                    for (follower, lag) in &r.follower_lag {
                        push(
                            &FOLLOWER_LAG,
                            &format!("{labels},follower=\"{follower}\""),
                            offset(*lag),
                        );
                    }
                }
            }
        }
        let shard_labels = format!("shard=\"{shard}\"");
        for (api_key, latency) in self.requests.borrow().iter() {
            let api = kafka_protocol::messages::ApiKey::try_from(*api_key)
                .map_or_else(|()| api_key.to_string(), |api| format!("{api:?}"));
            push(
                &REQUEST_LATENCY,
                &format!("{shard_labels},api=\"{api}\""),
                latency.summary(),
            );
        }
        push(&CONNECTIONS, &shard_labels, number(self.connections.get()));
        push(
            &CONNECTIONS_ACCEPTED,
            &shard_labels,
            number(self.connections_accepted.get()),
        );
        push(
            &CONNECTIONS_REFUSED,
            &shard_labels,
            number(self.connections_refused.get()),
        );
        push(
            &AUTHENTICATION_FAILURES,
            &shard_labels,
            number(self.authentication_failures.get()),
        );
        push(
            &THROTTLED_RESPONSES,
            &shard_labels,
            number(self.throttled_responses.get()),
        );
        push(
            &REQUEST_QUOTA_TIME,
            &shard_labels,
            SampleValue::Number(self.request_quota_nanos.get() as f64 / 1e9),
        );
        push(&REQUEST_MEMORY, &shard_labels, number(request_memory));
        push(
            &REQUEST_MEMORY_WAITS,
            &shard_labels,
            number(self.request_memory_waits.get()),
        );
        push(
            &READ_AHEAD_BYTES,
            &shard_labels,
            number(read_ahead.held_bytes),
        );
        push(
            &SEGMENT_READ_BYTES,
            &shard_labels,
            number(read_ahead.read_bytes),
        );
        push(
            &SEGMENT_READ_WAITS,
            &shard_labels,
            number(read_ahead.fetch_waits),
        );
        push(&ISR_SHRINKS, &shard_labels, number(self.isr_shrinks.get()));
        push(&ISR_EXPANDS, &shard_labels, number(self.isr_expands.get()));
        if let Some(offline) = offline_partitions {
            push(&OFFLINE_PARTITIONS, &shard_labels, number(offline));
        }
        samples
    }
}

fn partition_entry<'a>(
    partitions: &'a mut HashMap<TopicPartition, PartitionMetrics>,
    tp: &TopicPartition,
) -> &'a mut PartitionMetrics {
    // Look up before inserting so the hot path does not clone the name.
    if !partitions.contains_key(tp) {
        partitions.insert(tp.clone(), PartitionMetrics::default());
    }
    partitions.get_mut(tp).expect("inserted above")
}

fn partition_labels(tp: &TopicPartition) -> String {
    format!(
        "topic=\"{}\",partition=\"{}\"",
        escape_label(&tp.topic),
        tp.partition
    )
}

/// Prometheus label values escape backslash, double quote and newline. (Kafka topic names
/// cannot hold them, but the renderer should not depend on that.)
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition format 0.0.4: each family once, with its HELP and TYPE lines,
/// then its series sorted by labels.
pub fn render(mut samples: Vec<Sample>) -> String {
    samples.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut text = String::new();
    for family in FAMILIES {
        let kind = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
        };
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} {kind}", family.name);
        for sample in samples.iter().filter(|s| std::ptr::eq(s.family, *family)) {
            let name = family.name;
            let labels = &sample.labels;
            match &sample.value {
                SampleValue::Number(value) => {
                    let _ = writeln!(text, "{name}{{{labels}}} {value}");
                }
                SampleValue::Summary {
                    quantiles,
                    sum,
                    count,
                } => {
                    let separator = if labels.is_empty() { "" } else { "," };
                    for (quantile, value) in quantiles {
                        let _ = writeln!(
                            text,
                            "{name}{{{labels}{separator}quantile=\"{quantile}\"}} {value}"
                        );
                    }
                    let _ = writeln!(text, "{name}_sum{{{labels}}} {sum}");
                    let _ = writeln!(text, "{name}_count{{{labels}}} {count}");
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    #[test]
    fn families_render_once_with_their_series() {
        let shard0 = ShardMetrics::default();
        let shard1 = ShardMetrics::default();
        for micros in [100, 200, 300, 4000] {
            shard0.produced(&tp("a", 0), 1000, Duration::from_micros(micros), true);
        }
        shard0.produced(&tp("a", 0), 1000, Duration::from_micros(50), false);
        shard1.produced(&tp("b", 1), 10, Duration::from_micros(7), true);
        shard1.fetched(&tp("b", 1), 4096, Duration::from_micros(30));
        shard0.request_handled(0, Duration::from_micros(500));
        shard0.connection_opened();
        shard0.connection_opened();
        shard0.connection_closed();
        shard0.isr_changed(true);
        let logs = [LogOffsets {
            tp: tp("a", 0),
            log_start_offset: 0,
            high_watermark: 40,
            log_end_offset: 40,
            replication: Some(ReplicationSample {
                leader: true,
                under_replicated: true,
                under_min_isr: false,
                follower_lag: vec![(2, 7)],
            }),
        }];
        let mut samples = shard0.samples(
            0,
            &logs,
            4096,
            crate::log::ReadAheadStats::default(),
            Some(3),
        );
        samples.extend(shard1.samples(1, &[], 0, crate::log::ReadAheadStats::default(), None));
        let text = render(samples);

        assert_eq!(
            text.matches("# TYPE weir_partition_produce_latency_seconds summary")
                .count(),
            1
        );
        assert!(
            text.contains("weir_partition_produce_requests_total{topic=\"a\",partition=\"0\"} 5\n")
        );
        assert!(
            text.contains("weir_partition_produce_errors_total{topic=\"a\",partition=\"0\"} 1\n")
        );
        assert!(
            text.contains("weir_partition_produce_bytes_total{topic=\"a\",partition=\"0\"} 4000\n")
        );
        assert!(text.contains(
            "weir_partition_produce_latency_seconds{topic=\"a\",partition=\"0\",quantile=\"0.5\"} 0.0002"
        ));
        assert!(text.contains(
            "weir_partition_produce_latency_seconds_count{topic=\"a\",partition=\"0\"} 4\n"
        ));
        assert!(
            text.contains("weir_partition_fetch_bytes_total{topic=\"b\",partition=\"1\"} 4096\n")
        );
        assert!(text.contains("weir_partition_high_watermark{topic=\"a\",partition=\"0\"} 40\n"));
        assert!(text.contains("weir_partition_under_replicated{topic=\"a\",partition=\"0\"} 1\n"));
        assert!(text.contains(
            "weir_partition_follower_lag_records{topic=\"a\",partition=\"0\",follower=\"2\"} 7\n"
        ));
        assert!(text.contains("weir_isr_shrinks_total{shard=\"0\"} 1\n"));
        assert!(text.contains("weir_offline_partitions{shard=\"0\"} 3\n"));
        assert!(
            text.contains("weir_request_latency_seconds_count{shard=\"0\",api=\"Produce\"} 1\n")
        );
        assert!(text.contains("weir_connections{shard=\"0\"} 1\n"));
        assert!(text.contains("weir_connections_accepted_total{shard=\"0\"} 2\n"));
        assert!(text.contains("weir_connections{shard=\"1\"} 0\n"));
        assert!(text.contains("weir_request_memory_bytes{shard=\"0\"} 4096\n"));
        assert!(text.contains("weir_request_memory_waits_total{shard=\"1\"} 0\n"));
        // Every line is a comment or `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect("series and value");
            assert!(series.contains('{') && series.ends_with('}'), "{line}");
            value.parse::<f64>().expect("numeric value");
        }
    }

    #[test]
    fn the_maximum_is_quantile_one_and_the_sum_adds_up() {
        let mut latency = Latency::new();
        for millis in 1..=100 {
            latency.record(Duration::from_millis(millis));
        }
        let SampleValue::Summary {
            quantiles,
            sum,
            count,
        } = latency.summary()
        else {
            panic!("a summary")
        };
        assert_eq!(count, 100);
        assert!((sum - 5.05).abs() < 0.05, "{sum}");
        let max = quantiles.last().unwrap();
        assert_eq!(max.0, 1.0);
        assert!((max.1 - 0.1).abs() < 0.001, "{max:?}");
    }

    #[test]
    fn forgotten_partitions_leave_no_series() {
        let metrics = ShardMetrics::default();
        metrics.produced(&tp("gone", 0), 1, Duration::from_micros(1), true);
        metrics.forget(&tp("gone", 0));
        assert!(
            !render(metrics.samples(0, &[], 0, crate::log::ReadAheadStats::default(), None))
                .contains("gone")
        );
    }
}
