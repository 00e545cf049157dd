//! `cleanup.policy=compact` through the wire with librdkafka: many updates to few keys shrink to
//! the latest value per key (tombstoned keys disappear after `delete.retention.ms`), offsets are
//! kept, the compacted log survives a crash, and a keyless record is refused with
//! INVALID_RECORD as Kafka refuses it.

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use support::broker::Broker;
use support::kafka::{send_retrying, wait_until};

const TOPIC: &str = "prices";
const KEYS: usize = 20;
const UPDATES: usize = 250;
/// Keys whose last update is a tombstone (a null value: Kafka's delete).
const DELETED: usize = 5;

/// (offset, key, value) of every record from the beginning to the high watermark.
type Records = Vec<(i64, String, Option<String>)>;

fn create_compacted_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "16384")
        .set("min.cleanable.dirty.ratio", "0.01")
        .set("delete.retention.ms", "0");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options))
        .expect("CreateTopics")
    {
        result.expect("compacted topic created");
    }
}

fn producer(bootstrap: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "2")
        // Batches well below segment.bytes, so that the data spreads over many segments and
        // only a small part of it sits in the active segment, which is never compacted.
        .set("batch.size", "2048")
        .create()
        .expect("producer")
}

/// `UPDATES` rounds over `KEYS` keys; the last round deletes the first `DELETED` keys. Returns
/// what a compacted log must end up holding: the latest value of each live key.
fn produce_updates(bootstrap: &str) -> BTreeMap<String, String> {
    let producer = producer(bootstrap);
    let mut latest = BTreeMap::new();
    for round in 0..UPDATES {
        for key in 0..KEYS {
            let key = format!("sku-{key:02}");
            let value = format!("price-{round}");
            let record = BaseRecord::to(TOPIC).key(key.as_str());
            if round == UPDATES - 1 && latest.len() < DELETED {
                send_retrying(&producer, record);
                latest.insert(key, String::new());
            } else {
                send_retrying(&producer, record.payload(value.as_str()));
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    latest.retain(|_, v| !v.is_empty());
    for key in DELETED..KEYS {
        latest.insert(format!("sku-{key:02}"), format!("price-{}", UPDATES - 1));
    }
    latest
}

fn read_all(bootstrap: &str) -> Records {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "compaction-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let (_, high) = consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .expect("watermarks");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let mut records = Records::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut next = 0;
    while next < high {
        assert!(
            std::time::Instant::now() < deadline,
            "reading to {high} timed out at {next}"
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("consume");
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("utf-8");
        records.push((
            message.offset(),
            message.key().map(text).expect("every record has a key"),
            message.payload().map(text),
        ));
        next = message.offset() + 1;
    }
    records
}

/// The latest value of every key that is not deleted, as a consumer replaying the log sees it.
fn replay(records: &Records) -> BTreeMap<String, String> {
    let mut table = BTreeMap::new();
    for (_, key, value) in records {
        match value {
            Some(value) => table.insert(key.clone(), value.clone()),
            None => table.remove(key),
        };
    }
    table
}

#[test]
fn many_updates_to_few_keys_compact_to_the_latest_values_and_survive_a_crash() {
    let mut broker = Broker::start_with(&["log.cleaner.backoff.ms=200"]);
    let b = broker.bootstrap();
    create_compacted_topic(&b);
    let expected = produce_updates(&b);
    let sent = KEYS * UPDATES;
    // A second burst rolls the segments holding the tombstones, so that a later pass (after
    // delete.retention.ms=0) can remove them: the active segment is never compacted.
    produce_updates(&b);
    let mut compacted = Records::new();
    wait_until(
        "the cleaner to compact the log",
        Duration::from_secs(60),
        || {
            compacted = read_all(&b);
            compacted.len() < sent / 2
        },
    );
    assert_eq!(replay(&compacted), expected, "replaying the compacted log");
    let offsets: Vec<i64> = compacted.iter().map(|r| r.0).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets only grow");
    assert_eq!(
        *offsets.last().expect("records"),
        2 * sent as i64 - 1,
        "the last offset is kept"
    );
    assert!(
        broker.log().contains("log compacted"),
        "the cleaner logs its work"
    );

    // Tombstones of the first burst are gone once compacted twice past delete.retention.ms.
    wait_until("tombstones to be removed", Duration::from_secs(60), || {
        let records = read_all(&b);
        let first_burst_end = sent as i64;
        records
            .iter()
            .filter(|r| r.0 < first_burst_end)
            .all(|r| r.2.is_some())
    });

    // A crash and restart: the compacted log comes back the same.
    let before = read_all(&b);
    broker.crash_and_restart();
    assert_eq!(read_all(&b), before);
    assert_eq!(replay(&before), expected);
}

/// Captures each delivery report's outcome (librdkafka's delivery callback).
struct Reports(Mutex<Vec<Result<i64, RDKafkaErrorCode>>>);

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let outcome = match result {
            Ok(message) => Ok(message.offset()),
            Err((KafkaError::MessageProduction(code), _)) => Err(*code),
            Err((other, _)) => panic!("unexpected delivery error {other}"),
        };
        self.0.lock().expect("reports").push(outcome);
    }
}

#[test]
fn a_keyless_record_on_a_compacted_topic_is_refused_with_invalid_record() {
    let broker = Broker::start();
    let b = broker.bootstrap();
    create_compacted_topic(&b);
    let producer: BaseProducer<Reports> = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("acks", "all")
        .set("retries", "0")
        .create_with_context(Reports(Mutex::new(Vec::new())))
        .expect("producer");
    producer
        .send(BaseRecord::<str, str>::to(TOPIC).payload("no key"))
        .expect("queued");
    producer.flush(Duration::from_secs(10)).expect("flush");
    producer
        .send(BaseRecord::to(TOPIC).key("sku").payload("keyed"))
        .expect("queued");
    producer.flush(Duration::from_secs(10)).expect("flush");
    let reports = producer.context().0.lock().expect("reports").clone();
    // Kafka: "Compacted topic cannot accept message without key" (INVALID_RECORD); the
    // broker serves on, and the keyed record after it is the topic's first.
    assert_eq!(reports, vec![Err(RDKafkaErrorCode::InvalidRecord), Ok(0)]);
}
