//! Faults on a real 3-node cluster inside a private network namespace (issue 17's harness:
//! `support::netns`). Each node listens on, and connects from, its own loopback address
//! (127.0.0.11-13); nftables rules cut the links between them, while the test's clients reach
//! every node from 127.0.0.1. Runs as root (CI does); elsewhere each test says it was skipped.

mod support;

use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use support::cluster::{stored_batches, Cluster};
use support::kafka::wait_until;
use support::netns;
use support::wire::{produce_value, topic_name, Wire};

const TOPIC: &str = "faulted";
const SESSION_MS: u64 = 3000;

/// The node at `address`'s Metadata (v12) for the topic; `None` when it cannot be reached.
fn metadata(address: &str) -> Option<MetadataResponse> {
    std::net::TcpStream::connect_timeout(&address.parse().ok()?, Duration::from_secs(2)).ok()?;
    let mut wire = Wire::connect(address);
    // Never auto-created here: the test creates it with its own assignment.
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(TOPIC)))
        ]));
    Some(wire.request(12, &request))
}

/// Partition 0's (leader, ISR) as the node at `address` has them; `None` when it cannot say.
fn partition_state(address: &str) -> Option<(i32, Vec<i32>)> {
    let response = metadata(address)?;
    let partition = response.topics.first()?.partitions.first()?;
    let isr = partition.isr_nodes.iter().map(|b| b.0).collect();
    Some((partition.leader_id.0, isr))
}

/// A node that is both the active controller and a partition's leader is cut off from the
/// other two (its clients still reach it). It cannot acknowledge an `acks=all` write: its
/// followers cannot fetch and it cannot commit an ISR change without a quorum. The majority
/// elects a new controller, which keeps its own brokers (their heartbeats, stuck on the
/// cut-off controller, give up in time to reach the new one) and elects a new partition
/// leader, which takes writes. Once the links heal, the old leader follows the new one, drops
/// the record only it had (its leader epoch diverges there), rejoins the ISR, and every
/// replica holds the same bytes: each acknowledged record once, in order.
#[test]
fn an_isolated_controller_and_leader_is_replaced_and_rejoins_without_losing_acknowledged_records() {
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
    let node_ip = |id: i32| format!("127.0.0.{}", 10 + id);
    // The active controller leads the partition: the cut isolates both.
    let mut isolated = -1;
    wait_until("an active controller", Duration::from_secs(20), || {
        isolated = metadata(&address(1)).map_or(-1, |m| m.controller_id.0);
        isolated > 0
    });
    let others: Vec<i32> = (1..=3).filter(|id| *id != isolated).collect();
    let replicas = [isolated, others[0], others[1]];
    let assignment = [&replicas[..]];
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .expect("admin client");
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Variable(&assignment))
        .set("min.insync.replicas", "2");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options))
        .expect("CreateTopics")
    {
        result.expect("topic created");
    }
    wait_until(
        "the controller leading with a full ISR",
        Duration::from_secs(30),
        || {
            partition_state(&address(isolated))
                .is_some_and(|(l, isr)| l == isolated && isr.len() == 3)
        },
    );
    let mut acknowledged: Vec<String> = (0..5).map(|i| format!("before-{i}")).collect();
    for (i, value) in acknowledged.iter().enumerate() {
        assert_eq!(
            produce_value(&address(isolated), TOPIC, value, -1),
            (0, i as i64)
        );
    }

    for other in &others {
        netns::cut(&node_ip(isolated), &node_ip(*other));
    }
    // Still reachable from the client, but alone: not acknowledged (REQUEST_TIMED_OUT after
    // the request's 10 s, or NOT_LEADER_OR_FOLLOWER).
    let (code, _) = produce_value(&address(isolated), TOPIC, "zombie", -1);
    assert_ne!(code, 0, "an isolated leader acknowledged an acks=all write");
    wait_until(
        "a new leader on the majority side",
        Duration::from_secs(30),
        || partition_state(&address(others[0])).is_some_and(|(l, _)| others.contains(&l)),
    );
    let (new_leader, isr) = partition_state(&address(others[0])).expect("metadata");
    assert_eq!(
        isr.len(),
        2,
        "both brokers of the majority stay in the ISR: {isr:?}"
    );
    let after = "after-the-cut".to_string();
    assert_eq!(
        produce_value(&address(new_leader), TOPIC, &after, -1),
        (0, 5)
    );
    acknowledged.push(after);

    netns::heal();
    wait_until(
        "the isolated broker back in the ISR",
        Duration::from_secs(60),
        || partition_state(&address(new_leader)).is_some_and(|(_, isr)| isr.contains(&isolated)),
    );
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
    cluster.kill(cluster.index_of(isolated));
}
