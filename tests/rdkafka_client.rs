//! librdkafka (the `rdkafka` crate, librdkafka 2.12) against a real `weir serve`: topic
//! creation with the admin API, 100,000 keyed messages produced with acks=all, every one read
//! back with exact key/value/partition/offset checks — before and after a `kill -9` of the broker.

mod support;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use support::broker::Broker;
use support::kafka::{create_topic, send_retrying};

const MESSAGES: usize = 100_000;
const PARTITIONS: i32 = 3;

/// A delivery report: (partition, offset) or the error.
type Delivery = Result<(i32, i64), String>;

/// Where each message landed, by index, from the producer's delivery reports.
struct DeliveryLog {
    placed: Mutex<Vec<Option<Delivery>>>,
}

impl ClientContext for DeliveryLog {}

impl ProducerContext for DeliveryLog {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, index: Box<usize>) {
        let outcome = match result {
            Ok(message) => Ok((message.partition(), message.offset())),
            Err((error, _)) => Err(error.to_string()),
        };
        self.placed.lock().unwrap()[*index] = Some(outcome);
    }
}

fn key(i: usize) -> String {
    format!("key-{i:06}")
}

fn value(i: usize) -> String {
    format!("value {i} {}", "x".repeat(i % 97))
}

fn produce_all(
    bootstrap: &str,
    topic: &str,
    count: usize,
    extra: &[(&str, &str)],
) -> Vec<(i32, i64)> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    let producer: BaseProducer<DeliveryLog> = config
        .create_with_context(DeliveryLog {
            placed: Mutex::new(vec![None; count]),
        })
        .expect("producer");
    for i in 0..count {
        let (k, v) = (key(i), value(i));
        send_retrying(
            &producer,
            BaseRecord::with_opaque_to(topic, Box::new(i))
                .key(k.as_str())
                .payload(v.as_str()),
        );
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    let placed = producer.context().placed.lock().unwrap().clone();
    placed
        .into_iter()
        .enumerate()
        .map(|(i, p)| match p {
            Some(Ok(at)) => at,
            Some(Err(e)) => panic!("message {i} failed: {e}"),
            None => panic!("message {i} has no delivery report"),
        })
        .collect()
}

/// Reads every partition from the beginning and checks each message against what was produced.
fn consume_and_check(bootstrap: &str, topic: &str, placed: &[(i32, i64)]) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.partition.eof", "false")
        // librdkafka's assign() needs a group id; nothing is committed (consumer groups are a
        // later issue) and the assignment starts at explicit offsets.
        .set("group.id", "weir-rdkafka-test")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let partitions = placed.iter().map(|p| p.0).max().unwrap_or(0) + 1;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let by_position: HashMap<(i32, i64), usize> =
        placed.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let mut seen = vec![false; placed.len()];
    let mut received = 0;
    let mut per_partition = vec![0usize; partitions as usize];
    let deadline = Instant::now() + Duration::from_secs(60);
    while received < placed.len() {
        if Instant::now() > deadline {
            let ends: Vec<(i64, i64)> = (0..partitions)
                .map(|p| {
                    consumer
                        .fetch_watermarks(topic, p, Duration::from_secs(5))
                        .unwrap_or((-9, -9))
                })
                .collect();
            panic!(
                "only {received} of {} messages consumed; per partition {per_partition:?}; watermarks {ends:?}",
                placed.len()
            );
        }
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.expect("consume");
        let position = (message.partition(), message.offset());
        let index = *by_position
            .get(&position)
            .unwrap_or_else(|| panic!("unexpected message at {position:?}"));
        assert!(!seen[index], "message {index} delivered twice");
        seen[index] = true;
        received += 1;
        per_partition[position.0 as usize] += 1;
        assert_eq!(
            message.key(),
            Some(key(index).as_bytes()),
            "key at {position:?}"
        );
        assert_eq!(
            message.payload(),
            Some(value(index).as_bytes()),
            "value at {position:?}"
        );
    }
}

#[test]
fn hundred_thousand_keyed_messages_survive_a_crash() {
    let mut broker = Broker::start();
    create_topic(&broker.bootstrap(), "keyed", PARTITIONS);
    let placed = produce_all(&broker.bootstrap(), "keyed", MESSAGES, &[]);

    // Every partition got messages, offsets are dense from 0, and equal keys share a partition.
    for p in 0..PARTITIONS {
        let mut offsets: Vec<i64> = placed.iter().filter(|x| x.0 == p).map(|x| x.1).collect();
        offsets.sort();
        assert!(!offsets.is_empty(), "partition {p} is empty");
        assert_eq!(
            offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
    consume_and_check(&broker.bootstrap(), "keyed", &placed);

    // acks=all means fdatasync before the ack: a kill -9 loses none of them.
    broker.crash_and_restart();
    consume_and_check(&broker.bootstrap(), "keyed", &placed);
}

#[test]
fn idempotent_producer_starts_and_metadata_survives_restart() {
    let mut broker = Broker::start_with(&["num.partitions=2"]);
    // Auto-created on first use (auto.create.topics.enable, num.partitions=2).
    let placed = produce_all(
        &broker.bootstrap(),
        "auto",
        2_000,
        &[("enable.idempotence", "true")],
    );
    assert!(placed.iter().any(|p| p.0 == 1), "both partitions used");
    broker.restart();
    consume_and_check(&broker.bootstrap(), "auto", &placed);
}
