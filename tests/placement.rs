//! Where a partition lives is cluster metadata (leader, replicas, ISR); which shard of the broker
//! owns its log is a local choice made on every start. A single broker restarted with another
//! `--smp`, or with another `broker.id`, serves every record it acknowledged, and Metadata
//! names it as every partition's leader, replica and in-sync replica.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use support::broker::Broker;
use support::kafka::{create_topic, produce};
use support::load::read_partition;

const TOPIC: &str = "placed";
const PARTITIONS: i32 = 4;

/// (leader, replicas, isr) of every partition, from Metadata.
fn placement(bootstrap: &str) -> Vec<(i32, Vec<i32>, Vec<i32>)> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("metadata client");
    let metadata = client
        .fetch_metadata(Some(TOPIC), Duration::from_secs(10))
        .expect("metadata");
    let mut partitions: Vec<_> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader(), p.replicas().to_vec(), p.isr().to_vec()))
        .collect();
    partitions.sort();
    partitions
        .into_iter()
        .map(|(_, leader, replicas, isr)| (leader, replicas, isr))
        .collect()
}

fn everything(bootstrap: &str) -> BTreeMap<i32, BTreeMap<i64, Vec<u8>>> {
    (0..PARTITIONS)
        .map(|p| (p, read_partition(bootstrap, TOPIC, p)))
        .collect()
}

#[test]
fn restarts_with_another_smp_or_broker_id_serve_every_record() {
    let mut broker = Broker::start_with(&[]);
    broker.set_args(&["--smp", "2"]);
    broker.restart();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS);
    let ends = produce(&bootstrap, TOPIC, 400);
    assert_eq!(ends.values().sum::<i64>(), 400);
    let stored = everything(&bootstrap);
    assert_eq!(placement(&bootstrap), vec![(0, vec![0], vec![0]); 4]);

    // One shard now: partitions are placed anew, nothing is rewritten, every record is there.
    broker.terminate();
    broker.set_args(&["--smp", "1"]);
    broker.relaunch();
    assert_eq!(everything(&bootstrap), stored);

    // Another broker.id on the same data: this single node takes its partitions over.
    broker.terminate();
    broker.set_args(&["--smp", "2", "--override", "broker.id=5"]);
    broker.relaunch();
    assert_eq!(placement(&bootstrap), vec![(5, vec![5], vec![5]); 4]);
    assert_eq!(everything(&bootstrap), stored);
    assert_eq!(everything(&bootstrap), stored);
    // Those reads came from the segment files, and each of the eight consumers' connections
    // landed on either shard (SO_REUSEPORT), so most likely some partitions were read over
    // the mesh: the bytes the owner's direct reads lent were copied before they crossed it,
    // not dropped on the other shard's thread (and leaked).
    assert!(
        !broker.last_run_log().contains("dropped off its shard"),
        "{}",
        broker.last_run_log()
    );
    assert!(
        broker
            .last_run_log()
            .contains("partitions of another broker.id in this data dir"),
        "{}",
        broker.last_run_log()
    );
    // And it takes writes for them.
    let ends = produce(&bootstrap, TOPIC, 40);
    assert_eq!(ends.values().sum::<i64>(), 440);
}
