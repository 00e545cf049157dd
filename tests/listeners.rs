//! Named listeners (Kafka's `listeners`, `listener.security.protocol.map`,
//! `advertised.listeners`, `inter.broker.listener.name`) with real processes and librdkafka:
//! clients get the endpoints of the listener they came in on, brokers replicate over the
//! inter-broker listener, and a listener a leader does not advertise answers
//! LISTENER_NOT_FOUND.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use support::broker::{free_port, Broker};
use support::cluster::Cluster;
use support::kafka::{create_topic, wait_until};
use support::wire::Wire;

/// Broker id → advertised port, as librdkafka's Metadata on `bootstrap` lists them.
fn broker_ports(bootstrap: &str) -> BTreeMap<i32, u16> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    match client.fetch_metadata(None, Duration::from_secs(5)) {
        Ok(metadata) => metadata
            .brokers()
            .iter()
            .map(|b| (b.id(), b.port() as u16))
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}

#[test]
fn clients_and_brokers_each_use_their_own_listener() {
    // Brokers reach each other on INTERNAL (the cluster's usual port); clients use EXTERNAL.
    let cluster = Cluster::start(
        3,
        &[
            "listeners=INTERNAL://{node.host}:{node.port},EXTERNAL://{node.host}:{node.spare_port},CONTROLLER://{node.host}:{node.controller_port}".to_string(),
            "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT".to_string(),
            "inter.broker.listener.name=INTERNAL".to_string(),
            "offsets.topic.num.partitions=1".to_string(),
        ],
    );
    let internal: BTreeMap<i32, u16> = cluster.nodes.iter().map(|n| (n.id, n.port)).collect();
    let external: BTreeMap<i32, u16> = cluster.nodes.iter().map(|n| (n.id, n.spare_port)).collect();
    let external_bootstrap = cluster
        .nodes
        .iter()
        .map(|n| format!("{}:{}", n.host, n.spare_port))
        .collect::<Vec<_>>()
        .join(",");
    wait_until(
        "three brokers on each listener",
        Duration::from_secs(30),
        || {
            broker_ports(&external_bootstrap) == external
                && broker_ports(&cluster.bootstrap()) == internal
        },
    );

    // RF=3 through the external listener: acks=all needs the followers, which fetch from the
    // leader over INTERNAL.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &external_bootstrap)
        .create()
        .expect("admin client");
    let topic = NewTopic::new("replicated", 1, TopicReplication::Fixed(3));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options))
        .expect("CreateTopics on the external listener")
    {
        result.expect("topic created");
    }

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &external_bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    for i in 0..100 {
        let value = format!("record-{i}");
        loop {
            match producer.send(BaseRecord::<(), _>::to("replicated").payload(&value)) {
                Ok(()) => break,
                Err((_, _)) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    assert!(
        producer.flush(Duration::from_secs(30)).is_ok(),
        "acks=all records acknowledged through EXTERNAL"
    );

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &external_bootstrap)
        .set("group.id", "outside-readers")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["replicated"]).expect("subscribe");
    let mut values: Vec<String> = Vec::new();
    wait_until("100 records read back", Duration::from_secs(30), || {
        while let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            values.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into());
        }
        values.len() >= 100
    });
    let expected: Vec<String> = (0..100).map(|i| format!("record-{i}")).collect();
    assert_eq!(values, expected);

    // Every follower caught up over INTERNAL: the ISR is all three.
    wait_until("an ISR of three", Duration::from_secs(20), || {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &external_bootstrap)
            .create()
            .expect("client");
        client
            .fetch_metadata(Some("replicated"), Duration::from_secs(5))
            .ok()
            .and_then(|m| {
                m.topics()
                    .first()
                    .map(|t| t.partitions()[0].isr().len() == 3)
            })
            .unwrap_or(false)
    });
}

#[test]
fn a_listener_the_leader_does_not_advertise_answers_listener_not_found() {
    let hidden_port = free_port();
    let broker = Broker::start_with(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:{{port}},HIDDEN://127.0.0.1:{hidden_port}"),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,HIDDEN:PLAINTEXT",
        "advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
    ]);
    create_topic(&broker.bootstrap(), "seen", 1);
    let request = MetadataRequest::default().with_topics(Some(vec![
        kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("seen")))),
    ]));

    let mut advertised = Wire::connect(&broker.bootstrap());
    let response = advertised.request(9, &request);
    assert_eq!(response.brokers.len(), 1);
    assert_eq!(response.brokers[0].port, i32::from(broker.port));
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    assert_eq!(response.topics[0].partitions[0].leader_id.0, 0);

    // Bound but not advertised: served, and Metadata says the leader is not on this listener
    // (Kafka's LISTENER_NOT_FOUND, 72, leader -1).
    let mut hidden = Wire::connect(&format!("127.0.0.1:{hidden_port}"));
    let response = hidden.request(9, &request);
    assert!(response.brokers.is_empty(), "{:?}", response.brokers);
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 72);
    assert_eq!(partition.leader_id.0, -1);
}
