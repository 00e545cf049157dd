//! A damaged metadata file against a real `weir serve`: one flipped bit is found by the file's
//! checksum and the copy kept before the last change is used, with the partitions created since
//! adopted from their directories; with both copies damaged the registry is rebuilt from the
//! partition directories. Either way the broker starts, says what it did, and every record is
//! still readable and writable.

mod support;

use std::collections::HashMap;

use support::broker::Broker;
use support::kafka::{create_topic, produce};
use support::load::read_partition;

const METADATA_FILE: &str = "weir-metadata.fb";

fn record_counts(broker: &Broker, topics: &[(&str, i32)]) -> HashMap<String, usize> {
    topics
        .iter()
        .map(|(topic, partitions)| {
            let count = (0..*partitions)
                .map(|p| read_partition(&broker.bootstrap(), topic, p).len())
                .sum();
            (topic.to_string(), count)
        })
        .collect()
}

#[test]
fn damaged_metadata_falls_back_to_the_previous_copy_then_to_the_partition_directories() {
    let mut broker = Broker::start_with(&["offsets.topic.num.partitions=2"]);
    create_topic(&broker.bootstrap(), "kept", 2);
    produce(&broker.bootstrap(), "kept", 100);
    // The last metadata change: the previous copy does not know this topic.
    create_topic(&broker.bootstrap(), "later", 1);
    produce(&broker.bootstrap(), "later", 10);
    let topics = [("kept", 2), ("later", 1)];
    let before = record_counts(&broker, &topics);
    broker.terminate();

    // One flipped bit: the checksum finds it.
    let path = broker.data_path().join(METADATA_FILE);
    let mut bytes = std::fs::read(&path).expect("metadata file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x04;
    std::fs::write(&path, &bytes).expect("damage the metadata file");
    broker.relaunch();
    let log = broker.last_run_log();
    assert!(log.contains("checksum mismatch"), "{log}");
    assert!(
        log.contains("using the copy kept before its last change"),
        "{log}"
    );
    assert!(
        log.contains("were adopted") && log.contains("later"),
        "{log}"
    );
    assert!(!log.contains("removing the directory"), "{log}");
    assert_eq!(record_counts(&broker, &topics), before);
    produce(&broker.bootstrap(), "later", 5);
    broker.terminate();

    // Both copies damaged: rebuilt from the directories.
    for name in [METADATA_FILE, "weir-metadata.fb.previous"] {
        let path = broker.data_path().join(name);
        let bytes = std::fs::read(&path).expect("metadata copy");
        std::fs::write(&path, &bytes[..bytes.len() / 3]).expect("cut the metadata copy");
    }
    broker.relaunch();
    let log = broker.last_run_log();
    assert!(
        log.contains("rebuilding the topic registry from the partition directories"),
        "{log}"
    );
    let mut after = before.clone();
    *after.get_mut("later").expect("later") += 5;
    assert_eq!(record_counts(&broker, &topics), after);
    // Idempotent producers get fresh producer ids and their records land.
    let ends = produce(&broker.bootstrap(), "kept", 20);
    assert_eq!(ends.values().sum::<i64>(), 120);
}
