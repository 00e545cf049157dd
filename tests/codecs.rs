//! Compressed batches from real clients (compression.type=producer, the default): every codec
//! (gzip, snappy, lz4, zstd) produced by librdkafka is consumed by kafka-python and the other way
//! round, and the broker stores each batch exactly as the producer compressed it.

mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use support::broker::Broker;
use support::kafka::{create_topic, produce_compressed};
use support::python::python;
use support::wire::{stored_codecs, Wire};
use weir::record::Compression;

const COUNT: usize = 300;
const CODECS: [(&str, Compression); 4] = [
    ("gzip", Compression::Gzip),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd),
];

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/codec_roundtrip.py")
}

#[test]
fn librdkafka_compressed_batches_are_stored_as_sent_and_read_by_kafka_python() {
    let broker = Broker::start();
    let b = broker.bootstrap();
    for (codec, compression) in CODECS {
        let topic = format!("from-rdkafka-{codec}");
        create_topic(&b, &topic, 1);
        produce_compressed(&b, &topic, codec, COUNT);
        assert_eq!(
            stored_codecs(&mut Wire::connect(&b), &topic),
            HashSet::from([compression]),
            "{codec}"
        );

        let output = Command::new(python())
            .arg(script())
            .args(["consume", &b, &topic, &COUNT.to_string()])
            .output()
            .expect("run kafka-python");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{codec}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&format!(r#""count": {COUNT}, "ok": true"#)),
            "{codec}: {stdout}"
        );
    }
}

#[test]
fn kafka_python_compressed_batches_are_stored_as_sent_and_read_by_librdkafka() {
    let broker = Broker::start();
    let b = broker.bootstrap();
    for (codec, compression) in CODECS {
        let topic = format!("from-python-{codec}");
        create_topic(&b, &topic, 1);
        let output = Command::new(python())
            .arg(script())
            .args(["produce", &b, &topic, codec, &COUNT.to_string()])
            .output()
            .expect("run kafka-python");
        assert!(
            output.status.success(),
            "{codec}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            stored_codecs(&mut Wire::connect(&b), &topic),
            HashSet::from([compression]),
            "{codec}"
        );

        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &b)
            .set("group.id", format!("codec-{codec}"))
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&assignment).expect("assign");
        let mut keys = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while keys.len() < COUNT {
            assert!(
                Instant::now() < deadline,
                "{codec}: only {} messages",
                keys.len()
            );
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
                let value =
                    String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
                assert_eq!(value, key.replace("k-", "v-").repeat(10), "{codec}");
                keys.insert(key);
            }
        }
    }
}
