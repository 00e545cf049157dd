//! Faults on a real 3-node cluster inside a private network namespace (issue 17's harness:
//! `support::netns`). Each node listens on, and connects from, its own loopback address
//! (127.0.0.11-13); nftables rules cut the links between them, while the test's clients reach
//! every node from 127.0.0.1. Runs as root (CI does); elsewhere each test says it was skipped.

mod support;

use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::MetadataRequest;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use support::cluster::{stored_batches, Cluster};
use support::kafka::wait_until;
use support::netns;
use support::wire::{produce_value, topic_name, Wire};

const TOPIC: &str = "faulted";
const SESSION_MS: u64 = 3000;

/// Partition 0's (leader, ISR) as the node at `address` has them; `None` when it cannot say.
fn partition_state(address: &str) -> Option<(i32, Vec<i32>)> {
    let stream =
        std::net::TcpStream::connect_timeout(&address.parse().ok()?, Duration::from_secs(2));
    stream.ok()?;
    let mut wire = Wire::connect(address);
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name(TOPIC))),
    ]));
    let response = wire.request(12, &request);
    let partition = response.topics.first()?.partitions.first()?;
    let isr = partition.isr_nodes.iter().map(|b| b.0).collect();
    Some((partition.leader_id.0, isr))
}

/// A leader cut off from both followers (its clients still reach it) cannot acknowledge an
/// `acks=all` write: its followers cannot fetch and the controller, out of its reach, cannot
/// shrink the ISR. The majority side elects a new leader, which takes writes. Once the links
/// heal, the old leader follows the new one, drops the record only it had (its leader epoch
/// diverges there), rejoins the ISR, and every replica holds the same bytes: each
/// acknowledged record once, in order.
#[test]
fn an_isolated_leader_is_replaced_and_rejoins_without_losing_acknowledged_records() {
    if let Err(why) = netns::enter_private_network() {
        eprintln!("SKIPPED: no private network namespace for the fault test: {why}");
        return;
    }
    let mut cluster = Cluster::start_at_own_addresses(
        3,
        &[
            format!("broker.session.timeout.ms={SESSION_MS}"),
            "broker.heartbeat.interval.ms=500".into(),
            "offsets.topic.num.partitions=3".into(),
        ],
    );
    let address = |id: i32| {
        let node = &cluster.nodes[cluster.index_of(id)];
        format!("{}:{}", node.host, node.port)
    };
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .expect("admin client");
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Variable(&[&[1, 2, 3]]))
        .set("min.insync.replicas", "2");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options))
        .expect("CreateTopics")
    {
        result.expect("topic created");
    }
    wait_until(
        "broker 1 leading with a full ISR",
        Duration::from_secs(30),
        || partition_state(&address(1)).is_some_and(|(l, isr)| l == 1 && isr.len() == 3),
    );
    let mut acknowledged: Vec<String> = (0..5).map(|i| format!("before-{i}")).collect();
    for (i, value) in acknowledged.iter().enumerate() {
        assert_eq!(produce_value(&address(1), TOPIC, value, -1), (0, i as i64));
    }

    netns::cut("127.0.0.11", "127.0.0.12");
    netns::cut("127.0.0.11", "127.0.0.13");
    // Still reachable from the client, but alone: not acknowledged (REQUEST_TIMED_OUT after
    // the request's 10 s, or NOT_LEADER_OR_FOLLOWER).
    let (code, _) = produce_value(&address(1), TOPIC, "zombie", -1);
    assert_ne!(code, 0, "an isolated leader acknowledged an acks=all write");
    eprintln!("the isolated leader answered acks=all with error {code}");
    wait_until(
        "a new leader on the majority side",
        Duration::from_secs(30),
        || partition_state(&address(2)).is_some_and(|(l, _)| l == 2 || l == 3),
    );
    let (new_leader, _) = partition_state(&address(2)).expect("metadata");
    let after = "after-the-cut".to_string();
    assert_eq!(
        produce_value(&address(new_leader), TOPIC, &after, -1),
        (0, 5)
    );
    acknowledged.push(after);

    netns::heal();
    wait_until("broker 1 back in the ISR", Duration::from_secs(60), || {
        partition_state(&address(new_leader)).is_some_and(|(_, isr)| isr.contains(&1))
    });
    let end = acknowledged.len() as i64;
    let leader_copy = stored_batches(
        cluster.data_path(cluster.index_of(new_leader)),
        TOPIC,
        0,
        end,
    );
    for id in 1..=3 {
        wait_until(
            &format!("broker {id}'s log equal to the new leader's"),
            Duration::from_secs(30),
            || {
                stored_batches(cluster.data_path(cluster.index_of(id)), TOPIC, 0, end)
                    == leader_copy
            },
        );
    }
    let values: Vec<String> = support::load::read_partition(&cluster.bootstrap(), TOPIC, 0)
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert_eq!(
        values, acknowledged,
        "each acknowledged record once, in order; no zombie"
    );
    cluster.kill(cluster.index_of(1));
}
