//! Topic configs altered through the wire (AlterConfigs, IncrementalAlterConfigs), applied live
//! and persisted; DeleteRecords; the default size limit admits a 900 KB record (librdkafka).

mod support;

use std::time::Duration;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use support::broker::Broker;
use support::kafka::create_topic;
use support::wire::{fetch_partition, produce_request, topic_name, Wire};
use weir::record::batch_of;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn describe(wire: &mut Wire, topic: &str) -> Vec<(String, String, i8)> {
    let response = wire.request(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(topic))]),
    );
    response.results[0]
        .configs
        .iter()
        .map(|c| {
            (
                c.name.as_str().to_string(),
                c.value
                    .as_ref()
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default(),
                c.config_source,
            )
        })
        .collect()
}

fn config(wire: &mut Wire, topic: &str, key: &str) -> (String, i8) {
    describe(wire, topic)
        .into_iter()
        .find(|(k, _, _)| k == key)
        .map(|(_, v, source)| (v, source))
        .expect("config described")
}

fn incremental(
    wire: &mut Wire,
    resource_type: i8,
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let response = wire.request(
        1,
        &IncrementalAlterConfigsRequest::default()
            .with_validate_only(validate_only)
            .with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(topic))
                .with_configs(
                    ops.iter()
                        .map(|(k, op, v)| {
                            AlterableConfig::default()
                                .with_name(s(k))
                                .with_config_operation(*op)
                                .with_value(v.map(s))
                        })
                        .collect(),
                )]),
    );
    let r = &response.responses[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.as_str().to_string()),
    )
}

#[test]
fn topic_configs_are_altered_live_and_persisted() {
    let mut broker = Broker::start();
    create_topic(&broker.bootstrap(), "tuned", 1);
    let mut wire = Wire::connect(&broker.bootstrap());

    // AlterConfigs replaces the overrides as a whole.
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let alter = |wire: &mut Wire, pairs: &[(&str, &str)]| {
        let response = wire.request(
            2,
            &AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("tuned"))
                .with_configs(
                    pairs
                        .iter()
                        .map(|(k, v)| {
                            AlterableConfig::default()
                                .with_name(s(k))
                                .with_value(Some(s(v)))
                        })
                        .collect(),
                )]),
        );
        response.responses[0].error_code
    };
    assert_eq!(alter(&mut wire, &[("retention.ms", "60000")]), 0);
    assert_eq!(
        config(&mut wire, "tuned", "retention.ms"),
        ("60000".into(), 1)
    );
    assert_eq!(alter(&mut wire, &[("max.message.bytes", "2000000")]), 0);
    assert_eq!(
        config(&mut wire, "tuned", "retention.ms").1,
        5,
        "replaced: back to the default"
    );

    // IncrementalAlterConfigs: SET and DELETE per key; validate_only changes nothing.
    assert_eq!(
        incremental(
            &mut wire,
            2,
            "tuned",
            &[("retention.ms", 0, Some("1000"))],
            true
        )
        .0,
        0
    );
    assert_eq!(config(&mut wire, "tuned", "retention.ms").1, 5);
    assert_eq!(
        incremental(
            &mut wire,
            2,
            "tuned",
            &[
                ("segment.bytes", 0, Some("1024")),
                ("max.message.bytes", 1, None)
            ],
            false
        )
        .0,
        0
    );
    assert_eq!(
        config(&mut wire, "tuned", "segment.bytes"),
        ("1024".into(), 1)
    );
    assert_eq!(config(&mut wire, "tuned", "max.message.bytes").1, 5);

    // Bad input: INVALID_CONFIG naming the key; unknown topic; broker resource.
    let (code, message) = incremental(
        &mut wire,
        2,
        "tuned",
        &[("segment.bytes", 0, Some("tiny"))],
        false,
    );
    assert_eq!(code, 40, "INVALID_CONFIG");
    assert!(message.unwrap_or_default().contains("segment.bytes"));
    assert_eq!(
        incremental(
            &mut wire,
            2,
            "tuned",
            &[("retention.mss", 0, Some("1"))],
            false
        )
        .0,
        40
    );
    assert_eq!(
        incremental(
            &mut wire,
            2,
            "ghost",
            &[("retention.ms", 0, Some("1"))],
            false
        )
        .0,
        3
    );
    assert_eq!(
        incremental(
            &mut wire,
            4,
            "0",
            &[("num.partitions", 0, Some("2"))],
            false
        )
        .0,
        42
    );

    // Applied live: with segment.bytes=1024 every ~600-byte batch rolls a new segment.
    for i in 0..4 {
        let response = wire.request(9, &produce_request("tuned", 0, batch_of(1, 500, i), -1));
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }
    let segments = std::fs::read_dir(broker.data_path().join("tuned-0"))
        .expect("partition dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
        })
        .count();
    assert!(
        segments >= 3,
        "segments rolled at the new segment.bytes: {segments}"
    );

    // Persisted.
    broker.restart();
    let mut wire = Wire::connect(&broker.bootstrap());
    assert_eq!(
        config(&mut wire, "tuned", "segment.bytes"),
        ("1024".into(), 1)
    );
}

#[test]
fn delete_records_moves_the_log_start_offset() {
    let mut broker = Broker::start();
    create_topic(&broker.bootstrap(), "trim", 1);
    let mut wire = Wire::connect(&broker.bootstrap());
    for i in 0..10 {
        let response = wire.request(9, &produce_request("trim", 0, batch_of(1, 10, i), -1));
        assert_eq!(response.responses[0].partition_responses[0].base_offset, i);
    }
    let delete = |wire: &mut Wire, offset: i64| {
        use delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
        let response = wire.request(
            2,
            &DeleteRecordsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![DeleteRecordsTopic::default()
                    .with_name(topic_name("trim"))
                    .with_partitions(vec![DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(offset)])]),
        );
        let p = &response.topics[0].partitions[0];
        (p.error_code, p.low_watermark)
    };
    assert_eq!(delete(&mut wire, 5), (0, 5));
    assert_eq!(
        delete(&mut wire, 99).0,
        1,
        "beyond the high watermark: OFFSET_OUT_OF_RANGE"
    );

    let fetch = |wire: &mut Wire, offset: i64| {
        let (code, log_start, _) = fetch_partition(wire, "trim", 0, offset, 1 << 20);
        (code, log_start)
    };
    assert_eq!(
        fetch(&mut wire, 2),
        (1, 5),
        "below the log start: OFFSET_OUT_OF_RANGE"
    );
    assert_eq!(fetch(&mut wire, 5), (0, 5));

    broker.restart();
    let mut wire = Wire::connect(&broker.bootstrap());
    assert_eq!(
        fetch(&mut wire, 5),
        (0, 5),
        "the log start offset survives a restart"
    );
    assert_eq!(
        delete(&mut wire, -1),
        (0, 10),
        "-1: up to the high watermark"
    );
}

#[test]
fn a_900_kb_record_works_with_default_settings() {
    let broker = Broker::start();
    let b = broker.bootstrap();
    create_topic(&b, "big", 1);
    let payload = vec![b'x'; 900 * 1024];
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("acks", "all")
        .create()
        .expect("producer");
    producer
        .send(BaseRecord::to("big").key("k").payload(&payload))
        .map_err(|(e, _)| e)
        .expect("send");
    producer.flush(Duration::from_secs(30)).expect("flush");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("group.id", "big-reader")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("big", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the big record did not arrive"
        );
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            assert_eq!(message.payload().map(<[u8]>::len), Some(payload.len()));
            assert_eq!(message.payload(), Some(&payload[..]));
            break;
        }
    }
}
