//! A 3-node cluster of real `weir serve` processes (combined broker and controller, one
//! metadata quorum) driven with librdkafka: brokers register and are listed, an RF=3 topic's
//! leaders spread over all three, a killed broker is fenced after `broker.session.timeout.ms`
//! and its partitions get new leaders, and a node with another cluster's data dir refuses to
//! start.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use support::cluster::Cluster;
use support::kafka::{send_retrying, wait_until};

/// Shorter than Kafka's 9 s so the suite stays fast; the fencing path is the same.
const SESSION_MS: u64 = 3000;

fn start() -> Cluster {
    Cluster::start(
        3,
        &[
            &format!("broker.session.timeout.ms={SESSION_MS}"),
            "broker.heartbeat.interval.ms=500",
            "offsets.topic.num.partitions=3",
        ],
    )
}

/// (brokers, controller, partition → (leader, replicas, isr)) as librdkafka sees them.
type View = (BTreeSet<i32>, BTreeMap<i32, (i32, Vec<i32>, Vec<i32>)>);

fn view(bootstrap: &str, topic: &str) -> Option<View> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .ok()?;
    let metadata = client
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let brokers = metadata.brokers().iter().map(|b| b.id()).collect();
    let partitions = metadata
        .topics()
        .first()?
        .partitions()
        .iter()
        .map(|p| {
            (
                p.id(),
                (p.leader(), p.replicas().to_vec(), p.isr().to_vec()),
            )
        })
        .collect();
    Some((brokers, partitions))
}

fn create_topic(bootstrap: &str, name: &str, partitions: i32, replicas: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replicas));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options))
        .expect("CreateTopics")
    {
        result.expect("topic created");
    }
}

/// One acks=all record to each partition; returns each partition's high watermark after it.
fn produce_one_per_partition(bootstrap: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    for p in 0..partitions {
        let payload = format!("value-{p}");
        send_retrying(
            &producer,
            BaseRecord::to(topic)
                .partition(p)
                .key("k")
                .payload(&payload),
        );
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("watermark client");
    (0..partitions)
        .map(|p| {
            client
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .collect()
}

#[test]
fn three_brokers_form_one_cluster_and_a_killed_broker_loses_its_leaderships() {
    let mut cluster = start();
    let bootstrap = cluster.bootstrap();
    wait_until("three brokers in Metadata", Duration::from_secs(20), || {
        view(&bootstrap, "__consumer_offsets").is_some_and(|(b, _)| b.len() == 3)
    });

    create_topic(&bootstrap, "spread", 6, 3);
    let mut current = None;
    wait_until(
        "the topic's six partitions",
        Duration::from_secs(20),
        || {
            current = view(&bootstrap, "spread").filter(|(_, p)| p.len() == 6);
            current.is_some()
        },
    );
    let (brokers, partitions) = current.expect("waited for");
    assert_eq!(brokers, BTreeSet::from([1, 2, 3]));
    let leaders: BTreeSet<i32> = partitions.values().map(|p| p.0).collect();
    assert_eq!(leaders, BTreeSet::from([1, 2, 3]), "{partitions:?}");
    for (leader, replicas, isr) in partitions.values() {
        assert_eq!(replicas.len(), 3);
        assert_eq!(replicas[0], *leader, "the preferred replica leads");
        assert_eq!(isr.len(), 3);
    }
    // Every leader takes writes (acks=all: today every ISR member is the leader's own log;
    // replication is the next step).
    let ends = produce_one_per_partition(&bootstrap, "spread", 6);
    assert_eq!(ends, vec![1; 6]);

    // A kill -9 of broker 2: fenced once its session lapses, its partitions move to the next
    // in-sync replica with a new leader epoch.
    let victim = cluster.index_of(2);
    cluster.kill(victim);
    let killed_at = Instant::now();
    let bootstrap = cluster.bootstrap();
    wait_until(
        "broker 2's partitions to get other leaders",
        Duration::from_millis(SESSION_MS + 10_000),
        || {
            view(&bootstrap, "spread").is_some_and(|(b, p)| {
                !b.contains(&2) && p.len() == 6 && p.values().all(|(l, _, _)| *l != 2 && *l > 0)
            })
        },
    );
    let moved_after = killed_at.elapsed();
    eprintln!("leaders moved {moved_after:?} after the kill (session timeout {SESSION_MS} ms)");
    assert!(
        moved_after < Duration::from_millis(SESSION_MS + 2000),
        "leaders moved only after {moved_after:?}"
    );
    let (_, partitions) = view(&bootstrap, "spread").expect("metadata");
    for (leader, _, isr) in partitions.values() {
        assert!(!isr.contains(&2), "a fenced broker leaves the ISR: {isr:?}");
        assert!(isr.contains(leader));
    }
    // The new leaders take writes. (Their logs start empty here: data moves only once
    // replication lands, so the partitions that moved restart at offset 0.)
    let ends = produce_one_per_partition(&bootstrap, "spread", 6);
    assert!(ends.iter().all(|end| (1..=2).contains(end)), "{ends:?}");

    // It comes back: registered, unfenced, listed again.
    cluster.launch(victim);
    cluster.wait_serving(victim);
    let bootstrap = cluster.bootstrap();
    wait_until("broker 2 listed again", Duration::from_secs(20), || {
        view(&bootstrap, "spread").is_some_and(|(b, _)| b.contains(&2))
    });
}

#[test]
fn a_node_with_another_clusters_data_dir_refuses_to_start() {
    let mut cluster = start();
    let index = cluster.index_of(3);
    cluster.kill(index);
    // Give node 3 the data dir of a different (single-node) cluster.
    let mut other = support::broker::Broker::start();
    other.kill();
    let other_dir = other.data_path();
    let target = cluster.data_path(index).to_path_buf();
    std::fs::remove_dir_all(&target).expect("clear node 3's data dir");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&other_dir)
        .arg(&target)
        .status()
        .expect("cp");
    assert!(copied.success());
    drop(other);
    cluster.launch(index);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = cluster.log(index);
        if log.contains("refusing to join")
            || log.contains("changing the voters of an existing quorum is not supported")
        {
            break;
        }
        assert!(Instant::now() < deadline, "node 3 did not refuse:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
