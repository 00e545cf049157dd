//! Client compatibility details, through the wire with the clients Kafka users run:
//! - Produce v8+ names the bad records of a refused batch (KIP-467 `record_errors` and
//!   `error_message`) and keeps the connection;
//! - topic configs that Kafka 3 accepts (deprecated ones included) are accepted, unknown ones
//!   refused with INVALID_CONFIG;
//! - IncrementalAlterConfigs SET / DELETE / APPEND / SUBTRACT as Kafka validates them;
//! - DescribeConfigs with sources, read-only, sensitivity, synonyms (v1+), types and
//!   documentation (v3+).
//!
//! librdkafka (rdkafka) and the raw protocol here; kafka-python in tests/python/configs.py.

mod support;

use std::time::Duration;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    CreateTopicsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewTopic, OwnedResourceSpecifier,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;
use support::broker::Broker;
use support::python::run_script;
use support::wire::{produce_request, topic_name, Wire};

const INVALID_RECORD: i16 = 87;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))
}

fn str_bytes(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn create_topic(wire: &mut Wire, name: &str, configs: &[(&str, &str)]) -> (i16, Option<String>) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(str_bytes(k))
                            .with_value(Some(str_bytes(v)))
                    })
                    .collect(),
            )]);
    let response = wire.request(7, &request);
    let topic = &response.topics[0];
    (
        topic.error_code,
        topic.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// A batch whose records have these keys (`None`: no key).
fn batch_with_keys(keys: &[Option<&str>]) -> bytes::Bytes {
    let mut builder = weir::record::BatchBuilder::new();
    for (i, key) in keys.iter().enumerate() {
        builder.push(weir::record::NewRecord {
            key: key.map(str::as_bytes),
            value: Some(format!("value-{i}").as_bytes()),
            timestamp_ms: 1_000_000,
        });
    }
    builder.build()
}

#[test]
fn produce_v8_names_the_records_without_a_key_and_keeps_the_connection() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    assert_eq!(
        create_topic(&mut wire, "compacted", &[("cleanup.policy", "compact")]).0,
        0
    );

    // Records 1 and 3 of the batch have no key: Kafka refuses the batch with INVALID_RECORD
    // and lists both (KIP-467), so that a client fails exactly those records.
    let batch = batch_with_keys(&[Some("a"), None, Some("b"), None]);
    let response = wire.request(9, &produce_request("compacted", 0, batch.clone(), -1));
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!(partition.error_code, INVALID_RECORD);
    assert_eq!(partition.base_offset, -1);
    let errors: Vec<(i32, String)> = partition
        .record_errors
        .iter()
        .map(|e| {
            (
                e.batch_index,
                e.batch_index_error_message
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                1,
                "Compacted topic cannot accept message without key in topic partition \
                 compacted-0."
                    .to_string()
            ),
            (
                3,
                "Compacted topic cannot accept message without key in topic partition \
                 compacted-0."
                    .to_string()
            ),
        ]
    );
    let message = partition
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(
        message.starts_with("One or more records have been rejected due to 2 record errors"),
        "{message}"
    );

    // Produce v7 has no such fields: the same refusal, code only.
    let response = wire.request(7, &produce_request("compacted", 0, batch, -1));
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!(partition.error_code, INVALID_RECORD);
    assert!(partition.record_errors.is_empty());
    assert!(partition.error_message.is_none());

    // The connection serves on: a batch of keyed records is the topic's first.
    let keyed = batch_with_keys(&[Some("a"), Some("b")]);
    let response = wire.request(9, &produce_request("compacted", 0, keyed, -1));
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!((partition.error_code, partition.base_offset), (0, 0));
    assert!(partition.record_errors.is_empty());
    assert!(broker.log().contains("produce rejected"));
}

#[test]
fn topic_configs_kafka_3_accepts_are_accepted_and_unknown_ones_refused() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let admin = admin(&bootstrap);
    // What tools written for Kafka 3 send: deprecated keys, Kafka's documented others.
    let legacy = NewTopic::new("legacy", 1, TopicReplication::Fixed(1))
        .set("message.format.version", "2.8-IV1")
        .set("message.downconversion.enable", "false")
        .set("message.timestamp.difference.max.ms", "3600000")
        .set("unclean.leader.election.enable", "false")
        .set("segment.jitter.ms", "0")
        .set("preallocate", "false")
        .set("retention.ms", "86400000");
    let unknown = NewTopic::new("unknown", 1, TopicReplication::Fixed(1)).set("retention.mz", "1");
    let bad_value = NewTopic::new("bad-value", 1, TopicReplication::Fixed(1))
        .set("message.format.version", "latest");
    let results = futures_lite::future::block_on(
        admin.create_topics([&legacy, &unknown, &bad_value], &options()),
    )
    .expect("CreateTopics");
    assert_eq!(results[0], Ok("legacy".to_string()));
    assert_eq!(
        results[1],
        Err(("unknown".to_string(), RDKafkaErrorCode::InvalidConfig))
    );
    assert_eq!(
        results[2],
        Err(("bad-value".to_string(), RDKafkaErrorCode::InvalidConfig))
    );

    // DescribeConfigs (librdkafka asks for synonyms): overrides are TOPIC_CONFIG, others
    // DEFAULT_CONFIG; topic configs are not read-only, nothing is sensitive.
    let described = futures_lite::future::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic("legacy")], &options()),
    )
    .expect("DescribeConfigs");
    let resource = described[0].as_ref().expect("topic described");
    assert_eq!(
        resource.specifier,
        OwnedResourceSpecifier::Topic("legacy".into())
    );
    let entries = resource.entry_map();
    let format = entries["message.format.version"];
    assert_eq!(format.value.as_deref(), Some("2.8-IV1"));
    assert_eq!(format.source, ConfigSource::DynamicTopic);
    assert!(!format.is_read_only && !format.is_sensitive);
    let segment = entries["segment.bytes"];
    assert_eq!(segment.value.as_deref(), Some("1073741824"));
    assert_eq!(segment.source, ConfigSource::Default);
    assert!(entries.contains_key("local.retention.ms"));
    assert!(entries.contains_key("compression.zstd.level"));

    // AlterConfigs with a deprecated key, then with an unknown one.
    let alter = AlterConfig::new(ResourceSpecifier::Topic("legacy"))
        .set("message.timestamp.difference.max.ms", "1000")
        .set("retention.ms", "1000");
    let results =
        futures_lite::future::block_on(admin.alter_configs([&alter], &options())).expect("alter");
    assert!(results[0].is_ok(), "{results:?}");
    // An unknown key: the broker refuses the resource with INVALID_CONFIG. (rdkafka 0.38's
    // alter_configs reports every resource as altered whatever the broker answered, so the
    // refusal is read from the broker's log and the unchanged configs.)
    let alter = AlterConfig::new(ResourceSpecifier::Topic("legacy")).set("retention.mz", "1");
    futures_lite::future::block_on(admin.alter_configs([&alter], &options())).expect("alter");
    assert!(broker
        .log()
        .contains("error=INVALID_CONFIG (40) reason=unknown topic config `retention.mz`"));
    let described = futures_lite::future::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic("legacy")], &options()),
    )
    .expect("DescribeConfigs");
    let resource = described[0].as_ref().expect("topic described");
    let entries = resource.entry_map();
    assert_eq!(entries["retention.ms"].value.as_deref(), Some("1000"));
    assert_eq!(
        entries["message.timestamp.difference.max.ms"]
            .value
            .as_deref(),
        Some("1000")
    );
}

fn incremental(
    wire: &mut Wire,
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> (i16, Option<String>) {
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(str_bytes(topic))
            .with_configs(
                ops.iter()
                    .map(|(name, op, value)| {
                        AlterableConfig::default()
                            .with_name(str_bytes(name))
                            .with_config_operation(*op)
                            .with_value(value.map(str_bytes))
                    })
                    .collect(),
            ),
    ]);
    let response = wire.request(1, &request);
    let resource = &response.responses[0];
    (
        resource.error_code,
        resource.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// (value, source) of each named config of `topic`, from DescribeConfigs v4.
fn topic_configs(wire: &mut Wire, topic: &str, names: &[&str]) -> Vec<(Option<String>, i8)> {
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(str_bytes(topic))
            .with_configuration_keys(Some(names.iter().map(|n| str_bytes(n)).collect()))]);
    let response = wire.request(4, &request);
    names
        .iter()
        .map(|name| {
            let config = response.results[0]
                .configs
                .iter()
                .find(|c| c.name.as_str() == *name)
                .unwrap_or_else(|| panic!("{name} described"));
            (
                config.value.as_ref().map(|v| v.to_string()),
                config.config_source,
            )
        })
        .collect()
}

#[test]
fn incremental_alter_configs_sets_deletes_appends_and_subtracts() {
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    const APPEND: i8 = 2;
    const SUBTRACT: i8 = 3;
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    assert_eq!(create_topic(&mut wire, "inc", &[]).0, 0);
    let policy = |wire: &mut Wire| topic_configs(wire, "inc", &["cleanup.policy"])[0].clone();

    // APPEND compact to the default delete: delete,compact (as Kafka).
    assert_eq!(
        incremental(
            &mut wire,
            "inc",
            &[("cleanup.policy", APPEND, Some("compact"))]
        ),
        (0, None)
    );
    assert_eq!(policy(&mut wire), (Some("delete,compact".into()), 1));
    // SUBTRACT delete: compact alone.
    assert_eq!(
        incremental(
            &mut wire,
            "inc",
            &[("cleanup.policy", SUBTRACT, Some("delete"))]
        ),
        (0, None)
    );
    assert_eq!(policy(&mut wire), (Some("compact".into()), 1));
    // SET two keys at once, one of them deprecated, then DELETE one: back to its default.
    assert_eq!(
        incremental(
            &mut wire,
            "inc",
            &[
                ("retention.ms", SET, Some("60000")),
                ("message.downconversion.enable", SET, Some("false")),
            ]
        ),
        (0, None)
    );
    assert_eq!(
        incremental(&mut wire, "inc", &[("retention.ms", DELETE, None)]),
        (0, None)
    );
    assert_eq!(
        topic_configs(
            &mut wire,
            "inc",
            &[
                "retention.ms",
                "message.downconversion.enable",
                "cleanup.policy"
            ]
        ),
        vec![
            (Some("604800000".into()), 5),
            (Some("false".into()), 1),
            (Some("compact".into()), 1)
        ]
    );

    // What Kafka refuses: APPEND to a non-list key, an invalid list item, an unknown key,
    // a key twice in one resource. A refused resource changes nothing.
    let (code, message) = incremental(&mut wire, "inc", &[("retention.ms", APPEND, Some("5"))]);
    assert_eq!(code, INVALID_CONFIG);
    assert!(message.unwrap_or_default().contains("list configs only"));
    let (code, message) = incremental(
        &mut wire,
        "inc",
        &[("cleanup.policy", APPEND, Some("shred"))],
    );
    assert_eq!(code, INVALID_CONFIG);
    assert!(message.unwrap_or_default().contains("shred"));
    let (code, _) = incremental(&mut wire, "inc", &[("retention.mz", SET, Some("1"))]);
    assert_eq!(code, INVALID_CONFIG);
    let (code, _) = incremental(
        &mut wire,
        "inc",
        &[
            ("retention.ms", SET, Some("1")),
            ("retention.ms", DELETE, None),
        ],
    );
    assert_eq!(code, INVALID_REQUEST);
    assert_eq!(policy(&mut wire), (Some("compact".into()), 1));
}

#[test]
fn describe_configs_has_synonyms_types_and_documentation() {
    let broker = Broker::start_with(&["log.retention.hours=2"]);
    let mut wire = Wire::connect(&broker.bootstrap());
    assert_eq!(create_topic(&mut wire, "described", &[]).0, 0);
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(str_bytes("described")),
            DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_BROKER)
                .with_resource_name(str_bytes("0")),
        ]);
    let response = wire.request(4, &request);
    let topic = &response.results[0];
    assert_eq!(topic.error_code, 0);
    assert_eq!(topic.configs.len(), weir::config::TOPIC_KEYS.len());
    let retention = topic
        .configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .expect("retention.ms");
    // The broker's log.retention.hours sets it: STATIC_BROKER_CONFIG, in milliseconds.
    assert_eq!(
        retention.value.as_ref().map(|v| v.as_str()),
        Some("7200000")
    );
    assert_eq!(retention.config_source, 4);
    assert_eq!(retention.config_type, 5, "LONG");
    assert!(!retention.read_only && !retention.is_sensitive);
    let synonyms: Vec<(String, i8)> = retention
        .synonyms
        .iter()
        .map(|s| (s.name.to_string(), s.source))
        .collect();
    assert_eq!(
        synonyms,
        vec![
            ("log.retention.hours".to_string(), 4),
            ("log.retention.ms".to_string(), 5)
        ]
    );
    assert!(retention
        .documentation
        .as_ref()
        .is_some_and(|d| d.contains("segment is kept")));
    let format = topic
        .configs
        .iter()
        .find(|c| c.name.as_str() == "message.format.version")
        .expect("message.format.version");
    assert!(format
        .documentation
        .as_ref()
        .is_some_and(|d| d.contains("Accepted and ignored by Weir")));

    let broker_result = &response.results[1];
    assert_eq!(broker_result.error_code, 0);
    assert_eq!(broker_result.configs.len(), weir::config::BROKER_KEYS.len());
    let hours = broker_result
        .configs
        .iter()
        .find(|c| c.name.as_str() == "log.retention.hours")
        .expect("log.retention.hours");
    assert_eq!(hours.value.as_ref().map(|v| v.as_str()), Some("2"));
    assert_eq!(hours.config_source, 4);
    assert!(hours.read_only, "broker keys are static");
    assert_eq!(hours.config_type, 3, "INT");
    let unset = broker_result
        .configs
        .iter()
        .find(|c| c.name.as_str() == "log.retention.ms")
        .expect("log.retention.ms");
    assert!(
        unset.value.is_none(),
        "an unset log.retention.ms is null, as in Kafka"
    );

    // v0 asks for no synonyms or documentation and gets none.
    let response = wire.request(
        1,
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(str_bytes("described"))]),
    );
    // (Documentation is not in v1; the decoder fills in an empty default.)
    let first = &response.results[0].configs[0];
    assert!(
        first.synonyms.is_empty() && first.documentation.as_ref().is_none_or(|d| d.is_empty()),
        "{first:?}"
    );
}

#[test]
fn kafka_python_sees_the_same_configs_and_record_errors() {
    let broker = Broker::start();
    let stdout = run_script("configs.py", &[&broker.bootstrap()]);
    assert!(stdout.contains("configs: ok"), "{stdout}");
}

/// librdkafka's IncrementalAlterConfigs (the C API kafka-configs-like tools on librdkafka use;
/// the rdkafka crate 0.38 wraps only the older AlterConfigs): one topic resource with the given
/// operations; returns the resource's error code and message.
fn librdkafka_incremental(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    ops: &[(&str, rdkafka::bindings::rd_kafka_AlterConfigOpType_t, &str)],
) -> (i32, String) {
    use rdkafka::bindings as rd;
    use std::ffi::{CStr, CString};
    let name = CString::new(topic).expect("topic name");
    let strings: Vec<(CString, CString)> = ops
        .iter()
        .map(|(key, _, value)| (CString::new(*key).unwrap(), CString::new(*value).unwrap()))
        .collect();
    // SAFETY: librdkafka's documented admin sequence: every pointer passed is valid for the
    // call (CStrings above outlive it), the resource is destroyed after the request has been
    // answered, and the event and queue are destroyed once read.
    unsafe {
        let rk = admin.inner().native_ptr();
        let resource = rd::rd_kafka_ConfigResource_new(
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            name.as_ptr(),
        );
        for ((key, value), (_, op, _)) in strings.iter().zip(ops) {
            let error = rd::rd_kafka_ConfigResource_add_incremental_config(
                resource,
                key.as_ptr(),
                *op,
                value.as_ptr(),
            );
            assert!(error.is_null(), "librdkafka refused the operation locally");
        }
        let queue = rd::rd_kafka_queue_new(rk);
        let mut resources = [resource];
        rd::rd_kafka_IncrementalAlterConfigs(
            rk,
            resources.as_mut_ptr(),
            1,
            std::ptr::null(),
            queue,
        );
        let event = rd::rd_kafka_queue_poll(queue, 10_000);
        assert!(
            !event.is_null(),
            "no IncrementalAlterConfigs answer within 10 s"
        );
        let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(event);
        assert!(!result.is_null(), "not an IncrementalAlterConfigs result");
        let mut count = 0usize;
        let answered = rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
        assert_eq!(count, 1);
        let answer = *answered;
        let code = rd::rd_kafka_ConfigResource_error(answer) as i32;
        let message = rd::rd_kafka_ConfigResource_error_string(answer);
        let message = if message.is_null() {
            String::new()
        } else {
            CStr::from_ptr(message).to_string_lossy().into_owned()
        };
        rd::rd_kafka_event_destroy(event);
        rd::rd_kafka_queue_destroy(queue);
        rd::rd_kafka_ConfigResource_destroy(resource);
        (code, message)
    }
}

#[test]
fn librdkafka_incremental_alter_configs_appends_to_the_default_policy() {
    use rdkafka::bindings::rd_kafka_AlterConfigOpType_t as Op;
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let admin = admin(&bootstrap);
    let topic = NewTopic::new("rk-inc", 1, TopicReplication::Fixed(1));
    let created = futures_lite::future::block_on(admin.create_topics([&topic], &options()))
        .expect("CreateTopics");
    assert_eq!(created[0], Ok("rk-inc".to_string()));

    assert_eq!(
        librdkafka_incremental(
            &admin,
            "rk-inc",
            &[
                (
                    "cleanup.policy",
                    Op::RD_KAFKA_ALTER_CONFIG_OP_TYPE_APPEND,
                    "compact"
                ),
                (
                    "message.format.version",
                    Op::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                    "3.0-IV1"
                ),
            ]
        ),
        (0, String::new())
    );
    let (code, message) = librdkafka_incremental(
        &admin,
        "rk-inc",
        &[("segment.ms", Op::RD_KAFKA_ALTER_CONFIG_OP_TYPE_APPEND, "5")],
    );
    assert_eq!(code, i32::from(INVALID_CONFIG), "{message}");
    assert!(message.contains("list configs only"), "{message}");

    let described = futures_lite::future::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic("rk-inc")], &options()),
    )
    .expect("DescribeConfigs");
    let resource = described[0].as_ref().expect("topic described");
    let entries = resource.entry_map();
    assert_eq!(
        entries["cleanup.policy"].value.as_deref(),
        Some("delete,compact")
    );
    assert_eq!(entries["cleanup.policy"].source, ConfigSource::DynamicTopic);
    assert_eq!(entries["segment.ms"].value.as_deref(), Some("604800000"));
}
