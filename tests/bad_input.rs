//! Bad input over a raw TCP socket: each gets Kafka's error code where the protocol has one, or
//! a closed connection, plus a log line naming the peer and the problem; the broker keeps
//! serving other clients and loses nothing it acknowledged.

mod support;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use support::broker::Broker;
use support::wire::{produce_request, topic_name, Wire};
use weir::record::batch_of;

fn produce_code(wire: &mut Wire, topic: &str, records: Bytes, acks: i16) -> i16 {
    let request = produce_request(topic, 0, records, acks);
    wire.request(9, &request).responses[0].partition_responses[0].error_code
}

/// A healthy request on a new connection: the broker still serves.
fn assert_serving(broker: &Broker) {
    let mut wire = Wire::connect(&broker.bootstrap());
    let response = wire.request(3, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, 0);
}

/// A raw frame: size prefix, then api key, version, correlation id, client id, then `body`.
fn raw_request(api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    frame.put_i16(api_key);
    frame.put_i16(version);
    frame.put_i32(7);
    frame.put_i16(4);
    frame.put_slice(b"test");
    frame.put_slice(body);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame.to_vec()
}

/// A size-prefixed frame of `body` (a request as the fuzz targets see it).
fn framed(body: &[u8]) -> Vec<u8> {
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    frame
}

#[test]
fn malformed_frames_close_the_connection_and_the_broker_serves_on() {
    let broker = Broker::start_with(&["socket.request.max.bytes=1048576"]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "negative size",
            (-5i32).to_be_bytes().to_vec(),
            "negative frame size",
        ),
        (
            "frame over socket.request.max.bytes",
            (2_000_000i32).to_be_bytes().to_vec(),
            "exceeds socket.request.max.bytes",
        ),
        (
            "unknown api key",
            raw_request(999, 0, &[]),
            "unknown API key 999",
        ),
        (
            "unsupported version",
            raw_request(0, 2, &[]),
            "is not supported",
        ),
        (
            "header shorter than a header",
            vec![0, 0, 0, 3, 0, 18, 0],
            "shorter than a request header",
        ),
        // Metadata v1 whose topic array claims 2^31-1 entries in a 20-byte frame: the decoder
        // must fail cleanly, not try to allocate for two billion topics.
        (
            "absurd array length",
            raw_request(3, 1, &[0x7f, 0xff, 0xff, 0xff, 0, 1]),
            "malformed Metadata v1",
        ),
        // Found by `cargo fuzz run request_frame` (kept in tests/fuzz_regressions/): an 84-byte
        // Fetch v11 whose topic array claims about two billion topics; the decoder's up-front
        // capacity (163 GB) must not abort the broker (see src/alloc.rs).
        (
            "fuzz: Fetch topic array capacity",
            framed(include_bytes!(
                "fuzz_regressions/request_frame-fetch-topics-capacity"
            )),
            "malformed Fetch v11",
        ),
        (
            "truncated body",
            raw_request(0, 9, &[0, 0, 0]),
            "malformed Produce v9",
        ),
        (
            "garbage",
            {
                let mut g = vec![0, 0, 0, 64];
                g.extend((0..64u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
                g
            },
            "closing connection",
        ),
    ];
    for (what, bytes, logged) in cases {
        let mut wire = Wire::connect(&broker.bootstrap());
        wire.send_raw(&bytes);
        assert!(wire.is_closed(), "{what}: the connection is closed");
        assert_serving(&broker);
        let log = broker.log();
        assert!(
            log.contains(logged),
            "{what}: log names the problem ({logged:?}):\n{log}"
        );
    }
    assert!(
        broker.log().contains("peer=127.0.0.1:"),
        "log lines name the peer"
    );
}

#[test]
fn too_new_api_versions_gets_unsupported_version_with_our_versions() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    // ApiVersions v99 (KIP-511): answered as v0 with UNSUPPORTED_VERSION and the versions we
    // support, so that the client can retry.
    wire.send_raw(&raw_request(18, 99, &[]));
    let mut body = wire
        .read_frame()
        .expect("an answer, not a closed connection");
    assert_eq!(
        i32::from_be_bytes(body[..4].try_into().unwrap()),
        7,
        "correlation id"
    );
    let _ = body.split_to(4);
    let response =
        <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut body, 0)
            .expect("a v0 ApiVersions response");
    assert_eq!(response.error_code, 35);
    assert!(response
        .api_keys
        .iter()
        .any(|k| k.api_key == 18 && k.max_version == 3));
}

#[test]
fn bad_records_get_kafka_error_codes_and_nothing_is_appended() {
    let broker = Broker::start_with(&["message.max.bytes=10000"]);
    let mut wire = Wire::connect(&broker.bootstrap());
    let created = wire.request(
        7,
        &CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
            .with_name(topic_name("t"))
            .with_num_partitions(1)
            .with_replication_factor(1)]),
    );
    assert_eq!(created.topics[0].error_code, 0);

    let good = batch_of(3, 10, 1_700_000_000_000);
    assert_eq!(produce_code(&mut wire, "t", good.clone(), -1), 0);

    let mut corrupt = BytesMut::from(&good[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    assert_eq!(
        produce_code(&mut wire, "t", corrupt.freeze(), -1),
        2,
        "CORRUPT_MESSAGE"
    );
    assert_eq!(
        produce_code(&mut wire, "t", batch_of(1, 20_000, 0), -1),
        10,
        "MESSAGE_TOO_LARGE"
    );
    assert_eq!(
        produce_code(&mut wire, "t", Bytes::from_static(b"not a batch"), -1),
        2
    );
    assert_eq!(
        produce_code(&mut wire, "t", good.clone(), 5),
        21,
        "INVALID_REQUIRED_ACKS"
    );
    assert_eq!(
        produce_code(&mut wire, "missing", good.clone(), -1),
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );

    // Only the good batch is in the log, and the connection still works.
    let latest = wire.request(
        7,
        &ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)]),
        ]),
    );
    assert_eq!(latest.topics[0].partitions[0].offset, 3);
    let log = broker.log();
    assert!(log.contains("produce rejected"), "{log}");
    assert!(
        log.contains("CORRUPT_MESSAGE") && log.contains("MESSAGE_TOO_LARGE"),
        "{log}"
    );
    assert!(
        log.contains("peer=127.0.0.1:"),
        "the client is named: {log}"
    );
}

#[test]
fn invalid_topic_names_are_refused_everywhere() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    let long = "x".repeat(250);
    let metadata = wire.request(
        9,
        &MetadataRequest::default()
            .with_topics(Some(
                ["bad name", "..", long.as_str()]
                    .iter()
                    .map(|n| {
                        metadata_request::MetadataRequestTopic::default()
                            .with_name(Some(topic_name(n)))
                    })
                    .collect(),
            ))
            .with_allow_auto_topic_creation(true),
    );
    assert!(
        metadata.topics.iter().all(|t| t.error_code == 17),
        "{metadata:?}"
    );
    let names: Vec<_> = std::fs::read_dir(broker.data_path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !n.starts_with('.') && !n.starts_with("weir-") && !n.starts_with("__consumer_offsets-")
        })
        .collect();
    assert!(
        names.is_empty(),
        "no directories for invalid topics: {names:?}"
    );
}

#[test]
fn a_partition_whose_log_cannot_open_answers_kafka_storage_error() {
    let broker = Broker::start();
    // A regular file where the partition directory must go: its log cannot be opened.
    std::fs::write(broker.data_path().join("blocked-0"), b"not a directory").expect("block");
    let mut wire = Wire::connect(&broker.bootstrap());
    for name in ["blocked", "fine"] {
        let created = wire.request(
            7,
            &CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(name))
                .with_num_partitions(1)
                .with_replication_factor(1)]),
        );
        assert_eq!(created.topics[0].error_code, 0);
    }
    let good = batch_of(1, 10, 0);
    assert_eq!(
        produce_code(&mut wire, "blocked", good.clone(), -1),
        56,
        "KAFKA_STORAGE_ERROR"
    );
    assert_eq!(
        produce_code(&mut wire, "fine", good, -1),
        0,
        "other partitions serve on"
    );
    assert!(
        broker.log().contains("cannot open partition log"),
        "{}",
        broker.log()
    );
}

#[test]
fn idle_connections_are_closed_after_connections_max_idle_ms() {
    let broker = Broker::start_with(&["connections.max.idle.ms=500"]);
    let mut idle = Wire::connect(&broker.bootstrap());
    let mut busy = Wire::connect(&broker.bootstrap());
    // A connection that keeps asking stays open past the idle limit.
    for _ in 0..8 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(
            busy.request(3, &ApiVersionsRequest::default()).error_code,
            0
        );
    }
    assert!(idle.is_closed(), "the idle connection was closed");
    assert!(
        broker.log().contains("closing idle connection"),
        "{}",
        broker.log()
    );
}
