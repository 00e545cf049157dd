//! librdkafka helpers shared by the client tests: topic creation, keyed produce, group
//! consumers, committed offsets, bounded waits.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options))
        .expect("CreateTopics")
    {
        result.expect("topic created");
    }
}

/// Produces `count` keyed messages (`k-i` / `v-i`) with acks=all; returns each partition's end.
pub fn produce(bootstrap: &str, topic: &str, count: usize) -> HashMap<i32, i64> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for i in 0..count {
        let (key, value) = (format!("k-{i}"), format!("v-{i}"));
        send_retrying(
            &producer,
            BaseRecord::to(topic)
                .key(key.as_str())
                .payload(value.as_str()),
        );
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("watermark client");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .expect("watermarks");
            (p.id(), high)
        })
        .collect()
}

/// Sends `record`, waiting (up to 60 s) while the producer's queue is full; any other send
/// error fails the test.
pub fn send_retrying<C: ProducerContext>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, str, str, C::DeliveryOpaque>,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                assert!(Instant::now() < deadline, "producer queue stayed full");
                record = back;
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => panic!("send: {e}"),
        }
    }
    producer.poll(Duration::ZERO);
}

/// Produces `count` records `k-i` / `v-i` x10 compressed with librdkafka's `codec`
/// (`compression.codec`), acks=all.
pub fn produce_compressed(bootstrap: &str, topic: &str, codec: &str, count: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("compression.codec", codec)
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    for i in 0..count {
        let (key, value) = (format!("k-{i}"), format!("v-{i}").repeat(10));
        send_retrying(
            &producer,
            BaseRecord::to(topic)
                .key(key.as_str())
                .payload(value.as_str()),
        );
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

pub fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    group_consumer_with(bootstrap, group, &[])
}

/// A group consumer with extra librdkafka settings (assignment strategy, group.instance.id).
pub fn group_consumer_with(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "300");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create().expect("group consumer")
}

/// partition → (leader, ISR) of `topic` as librdkafka's Metadata sees them; empty while no
/// broker answers.
pub fn partition_leaders(bootstrap: &str, topic: &str) -> BTreeMap<i32, (i32, Vec<i32>)> {
    let Ok(client) = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create::<BaseConsumer>()
    else {
        return BTreeMap::new();
    };
    let Ok(metadata) = client.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
        return BTreeMap::new();
    };
    metadata
        .topics()
        .first()
        .map(|t| {
            t.partitions()
                .iter()
                .map(|p| (p.id(), (p.leader(), p.isr().to_vec())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    wait_until_some(what, timeout, || done().then_some(()))
}

/// Polls `probe` until it gives a value, for at most `timeout`.
pub fn wait_until_some<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sum of the group's committed offsets on `topic` (what a lag tool compares with the ends).
pub fn committed_total(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> i64 {
    let consumer = group_consumer(bootstrap, group);
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("OffsetFetch");
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}
