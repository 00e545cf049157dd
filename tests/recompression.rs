//! Topic `compression.type`: batches in another codec are recompressed on append (the stored
//! batches carry the topic's codec, and another client reads them); corrupt compressed
//! payloads and decompression bombs get CORRUPT_MESSAGE / MESSAGE_TOO_LARGE and the broker
//! serves on.

mod support;

use std::collections::HashSet;
use std::process::Command;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::CreateTopicsRequest;
use kafka_protocol::protocol::StrBytes;
use support::broker::Broker;
use support::kafka::produce_compressed;
use support::python::python;
use support::wire::{produce_request, stored_codecs, topic_name, Wire};
use weir::record::{batch_of, codec, Compression, RecordBatch};

fn create(wire: &mut Wire, topic: &str, compression: &str) {
    let response = wire.request(
        7,
        &CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("compression.type"))
                .with_value(Some(StrBytes::from_string(compression.to_string())))])]),
    );
    assert_eq!(
        response.topics[0].error_code, 0,
        "{:?}",
        response.topics[0].error_message
    );
}

#[test]
fn batches_are_recompressed_to_the_topic_codec_and_read_by_another_client() {
    let broker = Broker::start();
    let b = broker.bootstrap();
    let mut wire = Wire::connect(&b);
    for (target, expected, producer_codec) in [
        ("gzip", Compression::Gzip, "none"),
        ("snappy", Compression::Snappy, "none"),
        ("lz4", Compression::Lz4, "gzip"),
        ("zstd", Compression::Zstd, "snappy"),
        ("uncompressed", Compression::None, "lz4"),
    ] {
        let topic = format!("to-{target}");
        create(&mut wire, &topic, target);
        produce_compressed(&b, &topic, producer_codec, 300);
        assert_eq!(
            stored_codecs(&mut wire, &topic),
            HashSet::from([expected]),
            "{target}"
        );
        let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/python/codec_roundtrip.py");
        let output = Command::new(python())
            .arg(script)
            .args(["consume", &b, &topic, "300"])
            .output()
            .expect("kafka-python");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(r#""count": 300, "ok": true"#),
            "{target}: {stdout}"
        );
    }
}

/// `batch` with its attributes' codec set to `codec` and the CRC made valid again.
fn relabel(batch: Bytes, codec: Compression) -> Bytes {
    let mut bytes = BytesMut::from(&batch[..]);
    let attributes = (i16::from_be_bytes([bytes[21], bytes[22]]) & !7) | i16::from(codec.id());
    bytes[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes.freeze()
}

/// A batch whose records section is `payload` compressed with `codec` (CRC valid).
fn batch_with_payload(codec: Compression, payload: &[u8]) -> Bytes {
    let plain = batch_of(1, 10, 0);
    let mut bytes = BytesMut::from(&plain[..61]);
    bytes.extend_from_slice(&codec::compress(codec, payload));
    let length = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    relabel(bytes.freeze(), codec)
}

#[test]
fn corrupt_payloads_and_bombs_are_refused_and_the_broker_serves_on() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    create(&mut wire, "strict", "zstd");
    let produce = |wire: &mut Wire, records: Bytes| {
        wire.request(9, &produce_request("strict", 0, records, -1))
            .responses[0]
            .partition_responses[0]
            .error_code
    };
    // A "gzip" batch whose records are not gzip at all (the CRC is right, so only decompressing
    // shows it): CORRUPT_MESSAGE.
    assert_eq!(
        produce(&mut wire, relabel(batch_of(3, 50, 0), Compression::Gzip)),
        2
    );
    // 8 MiB of zeros in a few KiB of gzip: beyond max.message.bytes once inflated.
    let bomb = batch_with_payload(Compression::Gzip, &vec![0u8; 8 << 20]);
    assert!(bomb.len() < 64 << 10);
    RecordBatch::new(bomb.clone())
        .unwrap()
        .check_integrity()
        .unwrap();
    assert_eq!(produce(&mut wire, bomb), 10, "MESSAGE_TOO_LARGE");
    // The broker is fine and a good batch still goes in, recompressed.
    assert_eq!(produce(&mut wire, batch_of(3, 50, 0)), 0);
    assert_eq!(
        stored_codecs(&mut wire, "strict"),
        HashSet::from([Compression::Zstd])
    );
    assert!(
        broker.log().contains("cannot be decompressed"),
        "{}",
        broker.log()
    );
}
