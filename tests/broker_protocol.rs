//! The broker through the wire, request by request, with a raw Kafka protocol client: admin
//! APIs and their error codes, produce/fetch/list offsets, fetch sessions and long polls.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::broker::Broker;
use support::wire::{fetch_request, produce_request, topic_name, Wire};
use weir::record::{BatchBuilder, NewRecord};

fn new_topic(name: &str, partitions: i32) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
}

fn create_topics(
    wire: &mut Wire,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> CreateTopicsResponse {
    let request = CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only);
    wire.request(7, &request)
}

fn batch(values: &[&str]) -> Bytes {
    let mut builder = BatchBuilder::new();
    for (i, value) in values.iter().enumerate() {
        let key = format!("k{i}");
        builder.push(NewRecord {
            key: Some(key.as_bytes()),
            value: Some(value.as_bytes()),
            timestamp_ms: 1_700_000_000_000 + i as i64,
        });
    }
    builder.build()
}

fn produce(wire: &mut Wire, topic: &str, partition: i32, records: Bytes, acks: i16) -> (i16, i64) {
    let response = wire.request(9, &produce_request(topic, partition, records, acks));
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn list_offset(wire: &mut Wire, topic: &str, partition: i32, timestamp: i64) -> (i16, i64) {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(timestamp)])]);
    let response = wire.request(7, &request);
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.offset)
}

#[test]
fn api_versions_advertises_what_is_implemented() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    let response = wire.request(3, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, 0);
    let version_of = |key: ApiKey| {
        response
            .api_keys
            .iter()
            .find(|k| k.api_key == key as i16)
            .map(|k| (k.min_version, k.max_version))
    };
    assert_eq!(version_of(ApiKey::Produce), Some((3, 9)));
    assert_eq!(version_of(ApiKey::Fetch), Some((4, 12)));
    assert_eq!(version_of(ApiKey::ApiVersions), Some((0, 3)));
    assert_eq!(version_of(ApiKey::JoinGroup), Some((0, 7)));
    assert_eq!(version_of(ApiKey::OffsetCommit), Some((2, 8)));
    // Transactions (KIP-98): exactly the versions implemented.
    assert_eq!(version_of(ApiKey::EndTxn), Some((0, 3)));
    assert_eq!(version_of(ApiKey::AddPartitionsToTxn), Some((0, 4)));
    assert_eq!(version_of(ApiKey::WriteTxnMarkers), Some((1, 1)));
    assert_eq!(version_of(ApiKey::ListTransactions), Some((0, 1)));
    // Not implemented: KIP-848's consumer group protocol.
    assert_eq!(version_of(ApiKey::ConsumerGroupHeartbeat), None);
    // v0 too (old clients).
    let response = wire.request(0, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, 0);
    assert!(response.api_keys.len() >= 11);
}

#[test]
fn topics_are_created_described_grown_and_deleted() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());

    let created = create_topics(&mut wire, vec![new_topic("orders", 3)], false);
    let result = &created.topics[0];
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    assert_eq!(result.num_partitions, 3);
    assert!(!result.topic_id.is_nil());

    // Kafka's error codes for what CreateTopics refuses.
    let refused = create_topics(
        &mut wire,
        vec![
            new_topic("orders", 1),
            new_topic("bad/name", 1),
            new_topic("zero", 0),
            new_topic("rf3", 1).with_replication_factor(3),
            new_topic("badconf", 1).with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("soon")))]),
        ],
        false,
    );
    let codes: Vec<i16> = refused.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![36, 17, 37, 38, 40]);
    assert!(refused.topics.iter().all(|t| t.error_message.is_some()));

    // validate_only creates nothing.
    let validated = create_topics(&mut wire, vec![new_topic("dry-run", 2)], true);
    assert_eq!(validated.topics[0].error_code, 0);

    let metadata = wire.request(
        12,
        &MetadataRequest::default()
            .with_topics(None)
            .with_allow_auto_topic_creation(false),
    );
    let names: Vec<&str> = metadata
        .topics
        .iter()
        .filter(|t| !t.is_internal)
        .filter_map(|t| t.name.as_ref().map(|n| n.0.as_str()))
        .collect();
    assert_eq!(names, vec!["orders"]);
    assert!(
        metadata.topics.iter().any(|t| t.is_internal
            && t.name.as_ref().map(|n| n.0.as_str()) == Some("__consumer_offsets")),
        "the internal offsets topic is listed as internal"
    );
    let orders = metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("orders"))
        .expect("orders listed");
    assert_eq!(orders.partitions.len(), 3);
    assert!(orders
        .partitions
        .iter()
        .all(|p| p.leader_id.0 == 0 && p.isr_nodes.len() == 1));
    assert_eq!(metadata.brokers[0].port as u16, broker.port);

    // Metadata by topic id (v10+).
    let by_id = wire.request(
        12,
        &MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(None)
            .with_topic_id(orders.topic_id)])),
    );
    assert_eq!(
        by_id.topics[0].name.as_ref().map(|n| n.0.as_str()),
        Some("orders")
    );

    // Topic config overrides are described with their source.
    let configured = create_topics(
        &mut wire,
        vec![
            new_topic("configured", 1).with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("60000")))]),
        ],
        false,
    );
    assert_eq!(configured.topics[0].error_code, 0);
    let described = wire.request(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("configured")),
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_static_str("0")),
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("missing")),
        ]),
    );
    let retention = described.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .expect("retention.ms described");
    assert_eq!(retention.value.as_ref().map(|v| v.as_str()), Some("60000"));
    assert_eq!(retention.config_source, 1, "DYNAMIC_TOPIC_CONFIG");
    let listeners = described.results[1]
        .configs
        .iter()
        .find(|c| c.name.as_str() == "listeners")
        .expect("broker listeners described");
    assert!(listeners
        .value
        .as_ref()
        .unwrap()
        .as_str()
        .contains(&broker.port.to_string()));
    assert_eq!(described.results[2].error_code, 3);

    // CreatePartitions grows; shrinking is INVALID_PARTITIONS.
    let grow = |wire: &mut Wire, count: i32| {
        let response = wire.request(
            3,
            &CreatePartitionsRequest::default()
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(topic_name("orders"))
                    .with_count(count)])
                .with_timeout_ms(10_000),
        );
        response.results[0].error_code
    };
    assert_eq!(grow(&mut wire, 5), 0);
    assert_eq!(grow(&mut wire, 2), 37);
    let (code, _) = produce(&mut wire, "orders", 4, batch(&["on the new partition"]), -1);
    assert_eq!(code, 0);

    // DescribeCluster names this broker.
    let cluster = wire.request(0, &DescribeClusterRequest::default());
    assert_eq!(cluster.brokers.len(), 1);
    assert!(!cluster.cluster_id.is_empty());

    // DeleteTopics removes the topic and its data; unknown topics are UNKNOWN_TOPIC_OR_PARTITION.
    let deleted = wire.request(
        6,
        &DeleteTopicsRequest::default()
            .with_topics(vec![
                delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(topic_name("orders"))),
                delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(topic_name("nope"))),
            ])
            .with_timeout_ms(10_000),
    );
    let codes: Vec<i16> = deleted.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, 3]);
    assert!(!broker.data_path().join("orders-0").exists());
    let (code, _) = produce(&mut wire, "orders", 0, batch(&["gone"]), -1);
    assert_eq!(code, 3, "UNKNOWN_TOPIC_OR_PARTITION after delete");
}

#[test]
fn produce_fetch_and_list_offsets_round_trip() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    assert_eq!(
        create_topics(&mut wire, vec![new_topic("events", 2)], false).topics[0].error_code,
        0
    );

    let first = batch(&["a", "b", "c"]);
    let second = batch(&["d", "e"]);
    assert_eq!(produce(&mut wire, "events", 1, first.clone(), -1), (0, 0));
    assert_eq!(produce(&mut wire, "events", 1, second.clone(), 1), (0, 3));
    // acks=0: no response; the next request's answer shows the append happened.
    let frame = wire.frame(9, &produce_request("events", 1, batch(&["f"]), 0));
    wire.send_raw(&frame);
    assert_eq!(list_offset(&mut wire, "events", 1, -1), (0, 6), "latest");
    assert_eq!(list_offset(&mut wire, "events", 1, -2), (0, 0), "earliest");
    // MAX_TIMESTAMP (-3, KIP-734): the first batch carries the largest timestamp (+2 ms);
    // the answer is that batch's last offset.
    assert_eq!(
        list_offset(&mut wire, "events", 1, -3),
        (0, 2),
        "max timestamp"
    );
    assert_eq!(
        list_offset(&mut wire, "events", 1, 1_700_000_000_001),
        (0, 1),
        "by timestamp"
    );
    assert_eq!(
        list_offset(&mut wire, "events", 1, 1_800_000_000_000),
        (0, -1),
        "after every record"
    );
    assert_eq!(
        list_offset(&mut wire, "events", 7, -1).0,
        3,
        "unknown partition"
    );

    // Fetch returns the stored batches byte for byte, with the broker's offsets patched in.
    for version in [4, 7, 11, 12] {
        let response = wire.request(version, &fetch_request("events", 1, 0, 1 << 20));
        let p = &response.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "v{version}");
        assert_eq!(p.high_watermark, 6);
        let records = p.records.clone().expect("records");
        let batches: Vec<_> = weir::record::split_batches(records)
            .collect::<Result<_, _>>()
            .expect("whole batches");
        assert_eq!(batches.len(), 3, "v{version}");
        assert_eq!(batches[1].base_offset(), 3);
        assert_eq!(
            batches[1].records_bytes(),
            weir::record::RecordBatch::new(second.clone())
                .unwrap()
                .records_bytes()
        );
    }
    let out_of_range = wire.request(12, &fetch_request("events", 1, 99, 1 << 20));
    assert_eq!(out_of_range.responses[0].partitions[0].error_code, 1);
    let unknown = wire.request(12, &fetch_request("nope", 0, 0, 1 << 20));
    assert_eq!(unknown.responses[0].partitions[0].error_code, 3);
}

/// Produce requests are pipelined per connection (the next is read while earlier ones wait for
/// their acks); Kafka's ordering must hold all the same: appends in request order per partition,
/// responses in request order, and a following non-produce request answered after them.
#[test]
fn pipelined_produce_requests_keep_their_order() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    assert_eq!(
        create_topics(&mut wire, vec![new_topic("piped", 2)], false).topics[0].error_code,
        0
    );
    const REQUESTS: i32 = 40;
    let first_id = wire.next_correlation_id();
    let mut frames = Vec::new();
    for n in 0..REQUESTS {
        let partition = n % 2;
        let acks = if n % 4 < 2 { -1 } else { 1 };
        let value = format!("r{n}");
        frames.extend(wire.frame(
            9,
            &produce_request("piped", partition, batch(&[&value, &value, &value]), acks),
        ));
    }
    let list_id = first_id + REQUESTS;
    frames.extend(wire.frame(
        1,
        &ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name("piped"))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]),
    ));
    // One write: all requests are in the broker's socket buffer before it answers any.
    wire.send_raw(&frames);
    for n in 0..REQUESTS {
        let response = wire.read_response::<ProduceRequest>(9, first_id + n);
        let p = &response.responses[0].partition_responses[0];
        assert_eq!(p.index, n % 2);
        assert_eq!(p.error_code, 0, "request {n}");
        // Each partition gets every second request, 3 records each, in request order.
        assert_eq!(p.base_offset, i64::from(n / 2) * 3, "request {n}");
    }
    let latest = wire.read_response::<ListOffsetsRequest>(1, list_id);
    assert_eq!(
        latest.topics[0].partitions[0].offset,
        i64::from(REQUESTS / 2) * 3
    );
    // The records are stored in the order they were sent.
    let fetched = wire.request(12, &fetch_request("piped", 1, 0, 1 << 20));
    let records = fetched.responses[0].partitions[0]
        .records
        .clone()
        .expect("records");
    let batches: Vec<_> = weir::record::split_batches(records)
        .collect::<Result<_, _>>()
        .expect("whole batches");
    assert_eq!(batches.len(), REQUESTS as usize / 2);
    for (i, stored) in batches.iter().enumerate() {
        let value = format!("r{}", 2 * i + 1);
        let expected = batch(&[value.as_str(); 3]);
        assert_eq!(
            stored.records_bytes(),
            weir::record::RecordBatch::new(expected)
                .unwrap()
                .records_bytes()
        );
    }
}

#[test]
fn fetch_long_polls_until_data_arrives() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    assert_eq!(
        create_topics(&mut wire, vec![new_topic("poll", 1)], false).topics[0].error_code,
        0
    );

    // Nothing to read, min_bytes 1, max_wait 5 s: a producer on another connection appends
    // after 300 ms and the fetch answers with that batch well before the 5 s.
    let bootstrap = broker.bootstrap();
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let mut wire = Wire::connect(&bootstrap);
        produce(&mut wire, "poll", 0, batch(&["wake up"]), -1)
    });
    let started = Instant::now();
    let request = fetch_request("poll", 0, 0, 1 << 20)
        .with_max_wait_ms(5000)
        .with_min_bytes(1);
    let response = wire.request(12, &request);
    let waited = started.elapsed();
    assert_eq!(producer.join().unwrap(), (0, 0));
    let records = response.responses[0].partitions[0].records.clone().unwrap();
    assert!(!records.is_empty(), "the fetch returned the new batch");
    assert!(
        waited >= Duration::from_millis(250),
        "it waited for data ({waited:?})"
    );
    assert!(
        waited < Duration::from_secs(4),
        "it answered when data came ({waited:?})"
    );

    // With no data at all it answers empty after max_wait.
    let started = Instant::now();
    let request = fetch_request("poll", 0, 1, 1 << 20)
        .with_max_wait_ms(400)
        .with_min_bytes(1);
    let response = wire.request(12, &request);
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert_eq!(
        response.responses[0].partitions[0]
            .records
            .as_ref()
            .map(|r| r.len()),
        Some(0)
    );
}

#[test]
fn incremental_fetch_sessions_send_only_changes() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    assert_eq!(
        create_topics(&mut wire, vec![new_topic("s", 2)], false).topics[0].error_code,
        0
    );
    let partition = |p: i32, offset: i64| {
        FetchPartition::default()
            .with_partition(p)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(1 << 20)
    };
    let request =
        |session_id: i32, epoch: i32, partitions: Vec<FetchPartition>, forgotten: Vec<i32>| {
            let topics = if partitions.is_empty() {
                vec![]
            } else {
                vec![FetchTopic::default()
                    .with_topic(topic_name("s"))
                    .with_partitions(partitions)]
            };
            let forgotten = if forgotten.is_empty() {
                vec![]
            } else {
                vec![ForgottenTopic::default()
                    .with_topic(topic_name("s"))
                    .with_partitions(forgotten)]
            };
            FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_bytes(1 << 20)
                .with_session_id(session_id)
                .with_session_epoch(epoch)
                .with_topics(topics)
                .with_forgotten_topics_data(forgotten)
        };

    // Epoch 0 creates a session and answers every partition.
    let full = wire.request(
        12,
        &request(0, 0, vec![partition(0, 0), partition(1, 0)], vec![]),
    );
    assert_eq!(full.error_code, 0);
    let session_id = full.session_id;
    assert!(session_id > 0);
    assert_eq!(full.responses[0].partitions.len(), 2);

    // Epoch 1, nothing changed: no partitions in the answer.
    let quiet = wire.request(12, &request(session_id, 1, vec![], vec![]));
    assert_eq!(quiet.error_code, 0);
    assert!(
        quiet.responses.iter().all(|t| t.partitions.is_empty()),
        "{quiet:?}"
    );

    // Data on partition 1: epoch 2 answers only partition 1, with the records.
    assert_eq!(produce(&mut wire, "s", 1, batch(&["news"]), -1).0, 0);
    let news = wire.request(12, &request(session_id, 2, vec![], vec![]));
    assert_eq!(news.responses.len(), 1);
    let p = &news.responses[0].partitions;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].partition_index, 1);
    assert!(!p[0].records.as_ref().unwrap().is_empty());

    // A stale epoch and an unknown session are Kafka's session errors.
    let stale = wire.request(12, &request(session_id, 2, vec![], vec![]));
    assert_eq!(stale.error_code, 71, "INVALID_FETCH_SESSION_EPOCH");
    let unknown = wire.request(12, &request(session_id + 64, 1, vec![], vec![]));
    assert_eq!(unknown.error_code, 70, "FETCH_SESSION_ID_NOT_FOUND");

    // Moving partition 1's offset past the news and forgetting partition 0.
    let moved = wire.request(12, &request(session_id, 3, vec![partition(1, 1)], vec![0]));
    assert_eq!(moved.error_code, 0);
    assert!(
        moved.responses.iter().all(|t| t.partitions.is_empty()),
        "{moved:?}"
    );
}

#[test]
fn idempotent_producers_get_distinct_ids() {
    let mut broker = Broker::start();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut wire = Wire::connect(&broker.bootstrap());
        let response = wire.request(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
        );
        assert_eq!(response.error_code, 0);
        assert_eq!(response.producer_epoch, 0);
        ids.push(response.producer_id.0);
    }
    broker.restart();
    let mut wire = Wire::connect(&broker.bootstrap());
    let response = wire.request(
        4,
        &InitProducerIdRequest::default().with_transactional_id(None),
    );
    ids.push(response.producer_id.0);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        3,
        "producer ids never repeat, across restarts too: {ids:?}"
    );
}
