//! Load for the reliability tests: a librdkafka producer on its own thread that sends numbered
//! records (acks=all, idempotent) until told to stop and keeps every delivery report, and a
//! reader of whole partitions.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// A record's identity, carried at the start of its value: `<run>-<seq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    pub run: u32,
    pub seq: u64,
}

impl RecordId {
    pub fn value(&self, padding: usize) -> String {
        format!("{}-{:010} {}", self.run, self.seq, ".".repeat(padding))
    }

    pub fn parse(value: &[u8]) -> Option<RecordId> {
        let text = std::str::from_utf8(value).ok()?;
        let head = text.split(' ').next()?;
        let (run, seq) = head.split_once('-')?;
        Some(RecordId {
            run: run.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

/// A record the broker acknowledged: where it is, and when it was sent and acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub id: RecordId,
    pub partition: i32,
    pub offset: i64,
    pub sent_at: Instant,
    pub acked_at: Instant,
}

/// A record whose delivery failed (librdkafka gave up on it): it may or may not be stored.
#[derive(Debug, Clone)]
pub struct Failure {
    pub id: RecordId,
    pub partition: i32,
    pub sent_at: Instant,
    pub error: String,
}

/// Records sent but not yet acknowledged or failed, at most.
const MAX_UNACKNOWLEDGED: u64 = 5_000;

#[derive(Default)]
struct Reports {
    acks: Mutex<Vec<Ack>>,
    failures: Mutex<Vec<Failure>>,
}

impl Reports {
    /// Records with a delivery report.
    fn settled(&self) -> u64 {
        (self.acks.lock().unwrap().len() + self.failures.lock().unwrap().len()) as u64
    }
}

struct ReportContext(Arc<Reports>);

impl ClientContext for ReportContext {}

impl ProducerContext for ReportContext {
    /// The record's id and when it was handed to librdkafka.
    type DeliveryOpaque = Box<(RecordId, Instant)>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Self::DeliveryOpaque) {
        let (id, sent_at) = *sent;
        match result {
            Ok(message) => self.0.acks.lock().unwrap().push(Ack {
                id,
                partition: message.partition(),
                offset: message.offset(),
                sent_at,
                acked_at: Instant::now(),
            }),
            Err((error, message)) => self.0.failures.lock().unwrap().push(Failure {
                id,
                partition: message.partition(),
                sent_at,
                error: error.to_string(),
            }),
        }
    }
}

/// What a stopped producer saw.
pub struct ProducerOutcome {
    pub sent: u64,
    pub acks: Vec<Ack>,
    pub failures: Vec<Failure>,
    /// The error that stopped the producer early (a fatal idempotence error), if one did.
    pub fatal: Option<String>,
}

/// How a [`LoadProducer`] sends.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// At most this many records a second when given.
    pub per_second: Option<u64>,
    /// librdkafka's `message.timeout.ms`: how long a record may wait for its acknowledgement.
    pub message_timeout_ms: u32,
    /// `acks=1` without idempotence instead of `acks=all` with it: a producer that Kafka
    /// does not promise to keep safe, to show that a checker catches what it loses.
    pub leader_ack_only: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            per_second: None,
            message_timeout_ms: 20_000,
            leader_ack_only: false,
        }
    }
}

/// Sends records `run-0`, `run-1`, ... round-robin over `partitions` of `topic` until stopped.
pub struct LoadProducer {
    stop: Arc<AtomicBool>,
    /// Set by `stop_now`: everything unacknowledged is purged instead of waited for.
    purge: Arc<AtomicBool>,
    thread: Option<JoinHandle<(u64, Option<String>)>>,
    reports: Arc<Reports>,
}

impl LoadProducer {
    pub fn start(bootstrap: &str, topic: &str, partitions: i32, run: u32) -> LoadProducer {
        Self::start_with(bootstrap, topic, partitions, run, LoadOptions::default())
    }

    /// As [`LoadProducer::start`], sending at most `per_second` records a second when given.
    pub fn start_paced(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        run: u32,
        per_second: Option<u64>,
    ) -> LoadProducer {
        let options = LoadOptions {
            per_second,
            ..LoadOptions::default()
        };
        Self::start_with(bootstrap, topic, partitions, run, options)
    }

    /// As [`LoadProducer::start`], sending as `options` say.
    pub fn start_with(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        run: u32,
        options: LoadOptions,
    ) -> LoadProducer {
        let per_second = options.per_second;
        let reports = Arc::new(Reports::default());
        let producer: BaseProducer<ReportContext> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("acks", if options.leader_ack_only { "1" } else { "all" })
            .set("enable.idempotence", (!options.leader_ack_only).to_string())
            .set("linger.ms", "2")
            .set("message.timeout.ms", options.message_timeout_ms.to_string())
            .set("reconnect.backoff.ms", "20")
            .set("reconnect.backoff.max.ms", "200")
            .create_with_context(ReportContext(reports.clone()))
            .expect("producer");
        let stop = Arc::new(AtomicBool::new(false));
        let purge = Arc::new(AtomicBool::new(false));
        let topic = topic.to_string();
        let thread = std::thread::spawn({
            let (stop, purge) = (stop.clone(), purge.clone());
            let reports = reports.clone();
            move || {
                let mut seq = 0u64;
                let mut fatal = None;
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rate) = per_second {
                        let due = started.elapsed().as_millis() as u64 * rate / 1000;
                        if seq >= due {
                            producer.poll(Duration::from_millis(1));
                            continue;
                        }
                    }
                    let id = RecordId { run, seq };
                    let value = id.value((seq % 200) as usize);
                    let partition = (seq % partitions as u64) as i32;
                    let record = BaseRecord::with_opaque_to(&topic, Box::new((id, Instant::now())))
                        .partition(partition)
                        .payload(value.as_str());
                    match producer.send::<str, str>(record) {
                        Ok(()) => seq += 1,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {}
                        Err((e, _)) => {
                            // A fatal error (idempotence broken): this producer cannot go on.
                            fatal = Some(format!("send: {e}"));
                            break;
                        }
                    }
                    producer.poll(Duration::ZERO);
                    // At most MAX_UNACKNOWLEDGED records outstanding: the load stays steady, so a
                    // kill lands among requests of every stage, not behind an ever longer queue.
                    while seq - reports.settled() >= MAX_UNACKNOWLEDGED
                        && !stop.load(Ordering::Relaxed)
                    {
                        producer.poll(Duration::from_millis(1));
                    }
                }
                if purge.load(Ordering::Relaxed) {
                    producer.purge(PurgeConfig::default().queue().inflight());
                    producer.poll(Duration::from_millis(100));
                } else {
                    let _ = producer.flush(Duration::from_secs(20));
                }
                if let Some(error) = producer.client().fatal_error() {
                    fatal.get_or_insert(format!("fatal: {error:?}"));
                }
                (seq, fatal)
            }
        });
        LoadProducer {
            stop,
            purge,
            thread: Some(thread),
            reports,
        }
    }

    /// Records acknowledged so far.
    pub fn acked(&self) -> usize {
        self.reports.acks.lock().unwrap().len()
    }

    /// Stops sending and waits (up to 20 s) for the outstanding records' reports.
    pub fn finish(self) -> ProducerOutcome {
        self.end(false)
    }

    /// Stops sending and drops whatever is not acknowledged yet (the broker is gone).
    pub fn stop_now(self) -> ProducerOutcome {
        self.end(true)
    }

    fn end(mut self, purge: bool) -> ProducerOutcome {
        self.purge.store(purge, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
        let (sent, fatal) = self
            .thread
            .take()
            .expect("running")
            .join()
            .expect("producer thread");
        ProducerOutcome {
            sent,
            acks: std::mem::take(&mut *self.reports.acks.lock().unwrap()),
            failures: std::mem::take(&mut *self.reports.failures.lock().unwrap()),
            fatal,
        }
    }
}

impl Drop for LoadProducer {
    fn drop(&mut self) {
        self.purge.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Every record of one partition, from its start to its high watermark: offset → value bytes.
pub fn read_partition(bootstrap: &str, topic: &str, partition: i32) -> BTreeMap<i64, Vec<u8>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.auto.commit", "false")
        .set("group.id", "weir-test-reader")
        .create()
        .expect("reader");
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .expect("watermarks");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(low))
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let mut records = BTreeMap::new();
    // At least 20,000 records a second (a soak reads tens of millions), and never less than 60 s.
    let deadline = Instant::now() + Duration::from_secs(60 + (high - low).max(0) as u64 / 20_000);
    while records.len() < (high - low) as usize {
        assert!(
            Instant::now() < deadline,
            "read {} of {} records of {topic}-{partition}",
            records.len(),
            high - low
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                records.insert(message.offset(), message.payload().unwrap_or(&[]).to_vec());
            }
            Some(Err(e)) => panic!("fetch {topic}-{partition}: {e}"),
            None => {}
        }
    }
    records
}
