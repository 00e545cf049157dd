//! Replication across three real `weir serve` processes, driven with librdkafka: followers
//! fetch from their leaders (Fetch as a replica), the high watermark waits for the in-sync
//! replicas, and `acks=all` means every in-sync replica has the record. Killing a leader under
//! idempotent `acks=all` load loses no acknowledged record and stores none twice; every
//! replica ends byte-identical below the high watermark.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use support::cluster::Cluster;
use support::kafka::wait_until;
use support::load::{read_partition, LoadProducer, RecordId};

const SESSION_MS: u64 = 3000;
const TOPIC: &str = "replicated";
const PARTITIONS: i32 = 2;
/// Leader kills per run (the issue asks for at least 10 in CI).
const KILL_CYCLES: usize = 10;

fn start() -> Cluster {
    Cluster::start(
        3,
        &[
            format!("broker.session.timeout.ms={SESSION_MS}"),
            "broker.heartbeat.interval.ms=500".into(),
            "offsets.topic.num.partitions=3".into(),
        ],
    )
}

/// Creates the RF=3 topic (`min.insync.replicas=2`) and waits until every partition has a
/// leader and a full ISR.
fn create_topic(bootstrap: &str) {
    create_topic_with(bootstrap, PARTITIONS, TopicReplication::Fixed(3));
}

/// `create_topic` with the partitions and their replicas given.
fn create_topic_with(bootstrap: &str, partitions: i32, replication: TopicReplication) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(TOPIC, partitions, replication).set("min.insync.replicas", "2");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options))
        .expect("CreateTopics")
    {
        result.expect("topic created");
    }
    wait_until("leaders with a full ISR", Duration::from_secs(20), || {
        let view = leaders(bootstrap);
        view.len() == partitions as usize && view.values().all(|(l, isr)| *l > 0 && isr.len() == 3)
    });
}

/// Produces one record to partition 0 of the topic at broker `port` over the wire, with
/// `acks`: (error code, base offset).
fn produce_one(port: u16, value: &str, acks: i16) -> (i16, i64) {
    produce_one_at(&format!("127.0.0.1:{port}"), value, acks)
}

/// `produce_one` to a broker at `address` (host:port).
fn produce_one_at(address: &str, value: &str, acks: i16) -> (i16, i64) {
    support::wire::produce_value(address, TOPIC, value, acks)
}

/// partition → (leader, ISR) as librdkafka sees them.
fn leaders(bootstrap: &str) -> BTreeMap<i32, (i32, Vec<i32>)> {
    support::kafka::partition_leaders(bootstrap, TOPIC)
}

fn high_watermark(bootstrap: &str, partition: i32) -> i64 {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("watermark client");
    client
        .fetch_watermarks(TOPIC, partition, Duration::from_secs(10))
        .expect("watermarks")
        .1
}

/// The batches a replica stored below `end` in partition `partition` of the topic.
fn stored_batches(data_dir: &Path, partition: i32, end: i64) -> Vec<u8> {
    support::cluster::stored_batches(data_dir, TOPIC, partition, end)
}

/// Kills a partition's leader while an idempotent `acks=all` producer runs, brings it back as
/// a follower that rejoins the ISR, ten times over, and checks every acknowledged record:
/// present once, at the offset it was acknowledged with, in acknowledgement order; and every
/// replica's bytes equal below the high watermark.
#[test]
fn killing_the_leader_under_acks_all_load_loses_and_doubles_nothing() {
    let mut cluster = start();
    let bootstrap = cluster.bootstrap();
    create_topic(&bootstrap);
    // Paced: the checks read back every record, and the kills should land among steady
    // requests rather than behind a deep queue.
    let load = LoadProducer::start_paced(&bootstrap, TOPIC, PARTITIONS, 1, Some(5_000));
    wait_until("records acknowledged", Duration::from_secs(20), || {
        load.acked() > 500
    });

    for cycle in 0..KILL_CYCLES {
        let partition = cycle as i32 % PARTITIONS;
        let (victim, _) = leaders(&cluster.bootstrap())[&partition];
        let index = cluster.index_of(victim);
        let acked_before = load.acked();
        cluster.kill(index);
        let killed = Instant::now();
        let survivors = cluster.bootstrap();
        wait_until("a new leader", Duration::from_secs(20), || {
            leaders(&survivors)
                .get(&partition)
                .is_some_and(|(l, _)| *l > 0 && *l != victim)
        });
        eprintln!(
            "cycle {cycle}: partition {partition} has a new leader {:?} after kill -9 of {victim}",
            killed.elapsed()
        );
        // Writes go on at the new leader.
        wait_until(
            "acknowledgements after the kill",
            Duration::from_secs(30),
            || load.acked() > acked_before + 500,
        );
        cluster.launch(index);
        cluster.wait_serving(index);
        // Back as a follower, it catches up and rejoins every ISR (AlterPartition).
        let bootstrap = cluster.bootstrap();
        wait_until("full ISRs again", Duration::from_secs(30), || {
            let view = leaders(&bootstrap);
            view.len() == PARTITIONS as usize && view.values().all(|(_, isr)| isr.len() == 3)
        });
        eprintln!(
            "cycle {cycle}: {victim} back in every ISR {:?} after the kill",
            killed.elapsed()
        );
    }
    let acked_after_restarts = load.acked();
    wait_until("more acknowledgements", Duration::from_secs(30), || {
        load.acked() > acked_after_restarts + 500
    });
    let outcome = load.finish();
    assert_eq!(outcome.fatal, None, "the idempotent producer failed");
    assert!(
        outcome.failures.is_empty(),
        "{} records failed: {:?}",
        outcome.failures.len(),
        &outcome.failures[..outcome.failures.len().min(5)]
    );
    eprintln!("{} sent, {} acknowledged", outcome.sent, outcome.acks.len());

    let bootstrap = cluster.bootstrap();
    for partition in 0..PARTITIONS {
        let stored = read_partition(&bootstrap, TOPIC, partition);
        let mut seen = BTreeSet::new();
        for (offset, value) in &stored {
            let id =
                RecordId::parse(value).unwrap_or_else(|| panic!("a phantom record at {offset}"));
            assert!(seen.insert(id), "{id:?} stored twice (again at {offset})");
        }
        let mut last_offset = -1;
        for ack in outcome.acks.iter().filter(|a| a.partition == partition) {
            let value = stored.get(&ack.offset).unwrap_or_else(|| {
                panic!(
                    "acknowledged {:?} at {partition}/{} is lost",
                    ack.id, ack.offset
                )
            });
            assert_eq!(
                RecordId::parse(value),
                Some(ack.id),
                "offset {}",
                ack.offset
            );
            assert!(ack.offset > last_offset, "acknowledged out of order");
            last_offset = ack.offset;
        }
    }

    // The restarted broker caught up: all three replicas hold the same bytes below the high
    // watermark.
    for partition in 0..PARTITIONS {
        let end = high_watermark(&bootstrap, partition);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let copies: Vec<Vec<u8>> = (0..3)
                .map(|i| stored_batches(cluster.data_path(i), partition, end))
                .collect();
            if !copies[0].is_empty() && copies.iter().all(|c| *c == copies[0]) {
                break;
            }
            if Instant::now() > deadline {
                let summary: Vec<String> = copies
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let differs = c.iter().zip(&copies[0]).position(|(a, b)| a != b);
                        format!(
                            "node {}: {} bytes, first difference from node 1 at {differs:?}",
                            cluster.nodes[i].id,
                            c.len()
                        )
                    })
                    .collect();
                panic!("partition {partition}: replicas differ below the high watermark {end}: {summary:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The group coordinator moves with the leadership of the group's `__consumer_offsets`
/// partition: offsets committed (acks=all to the partition's ISR) before the coordinator's
/// broker is killed are what the group resumes from at the new coordinator.
#[test]
fn committed_offsets_survive_the_coordinators_death() {
    use kafka_protocol::messages::FindCoordinatorRequest;
    use kafka_protocol::protocol::StrBytes;
    use rdkafka::consumer::CommitMode;
    use rdkafka::{Offset, TopicPartitionList};
    use support::wire::Wire;

    const GROUP: &str = "survivors";
    let mut cluster = start();
    let bootstrap = cluster.bootstrap();
    create_topic(&bootstrap);
    // The group's coordinator, as FindCoordinator names it.
    let coordinator = |bootstrap: &str| {
        let first_broker = bootstrap.split(',').next().unwrap_or_default();
        let mut wire = Wire::connect(first_broker);
        let response = wire.request(
            3,
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str(GROUP)),
        );
        (response.error_code == 0).then_some(response.node_id.0)
    };
    let mut first = -1;
    wait_until("a coordinator", Duration::from_secs(20), || {
        first = coordinator(&bootstrap).unwrap_or(-1);
        first > 0
    });
    // Commit offset 40 of partition 0 for the group.
    let consumer = support::kafka::group_consumer(&bootstrap, GROUP);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(TOPIC, 0, Offset::Offset(40))
        .expect("offset");
    consumer.assign(&offsets).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(e) = consumer.commit(&offsets, CommitMode::Sync) {
        assert!(Instant::now() < deadline, "commit: {e}");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(consumer);

    cluster.kill(cluster.index_of(first));
    let survivors = cluster.bootstrap();
    wait_until("a new coordinator", Duration::from_secs(20), || {
        coordinator(&survivors).is_some_and(|c| c != first)
    });
    let consumer = support::kafka::group_consumer(&survivors, GROUP);
    let mut committed = None;
    wait_until(
        "the committed offset from the new coordinator",
        Duration::from_secs(30),
        || {
            let mut wanted = TopicPartitionList::new();
            wanted.add_partition(TOPIC, 0);
            committed = consumer
                .committed_offsets(wanted, Duration::from_secs(5))
                .ok()
                .and_then(|list| list.find_partition(TOPIC, 0).map(|p| p.offset()));
            matches!(committed, Some(Offset::Offset(_)))
        },
    );
    assert_eq!(committed, Some(Offset::Offset(40)));
}

/// `acks=all` waits for every in-sync replica: with one follower paused (SIGSTOP, well within
/// its session, so still in the ISR) an `acks=all` produce is not acknowledged within its
/// timeout (REQUEST_TIMED_OUT) and consumers do not see the record (the high watermark holds),
/// while `acks=1` is answered at once; once the follower runs again, both complete.
#[test]
fn acks_all_waits_for_every_in_sync_replica() {
    use support::wire::{produce_request, Wire};
    use weir::record::{BatchBuilder, NewRecord};
    // A long session: the paused follower must stay in the ISR for the whole check.
    let cluster = Cluster::start(
        3,
        &[
            "broker.session.timeout.ms=20000".into(),
            "broker.heartbeat.interval.ms=500".into(),
            "offsets.topic.num.partitions=3".into(),
        ],
    );
    let bootstrap = cluster.bootstrap();
    create_topic(&bootstrap);
    let (leader, isr) = leaders(&bootstrap)[&0].clone();
    let follower = *isr.iter().find(|b| **b != leader).expect("a follower");
    let leader_address = format!("127.0.0.1:{}", cluster.nodes[cluster.index_of(leader)].port);
    let produce = |acks: i16, timeout_ms: i32| {
        let mut builder = BatchBuilder::new();
        builder.push(NewRecord {
            key: Some(b"k"),
            value: Some(b"v"),
            timestamp_ms: 1_700_000_000_000,
        });
        let mut wire = Wire::connect(&leader_address);
        let request = produce_request(TOPIC, 0, builder.build(), acks).with_timeout_ms(timeout_ms);
        let started = Instant::now();
        let response = wire.request(9, &request);
        let p = &response.responses[0].partition_responses[0];
        (p.error_code, p.base_offset, started.elapsed())
    };
    assert_eq!(produce(-1, 10_000).0, 0);
    let hw = high_watermark(&bootstrap, 0);
    assert_eq!(hw, 1);

    let paused = cluster.index_of(follower);
    cluster.signal(paused, libc::SIGSTOP);
    let (code, _, took) = produce(-1, 1500);
    assert_eq!(
        code, 7,
        "REQUEST_TIMED_OUT while an in-sync follower lacks the batch"
    );
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    let (code, offset, took) = produce(1, 1500);
    assert_eq!((code, offset), (0, 2), "acks=1 needs the leader only");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(
        high_watermark(&bootstrap, 0),
        1,
        "consumers do not see unreplicated records"
    );
    // The leader's /metrics: it leads, the paused follower lags by the two records.
    let metrics = support::admin::scrape(cluster.nodes[cluster.index_of(leader)].admin_port);
    let series =
        |name: &str, extra: &str| format!("{name}{{topic=\"{TOPIC}\",partition=\"0\"{extra}}}");
    assert_eq!(
        support::admin::value(&metrics, &series("weir_partition_leader", "")),
        Some(1.0)
    );
    let lag = series(
        "weir_partition_follower_lag_records",
        &format!(",follower=\"{follower}\""),
    );
    assert_eq!(
        support::admin::value(&metrics, &lag),
        Some(2.0),
        "{metrics}"
    );

    cluster.signal(paused, libc::SIGCONT);
    let (code, offset, _) = produce(-1, 10_000);
    assert_eq!((code, offset), (0, 3));
    assert_eq!(high_watermark(&bootstrap, 0), 4);
}

/// A deposed leader that holds records nobody else has (acks=1 while its followers were
/// paused) comes back as a follower, drops them, and ends byte-identical to the new leader,
/// which stored other records at those offsets meanwhile.
#[test]
fn a_deposed_leader_drops_its_unreplicated_records_and_converges() {
    let mut cluster = start();
    let bootstrap = cluster.bootstrap();
    create_topic(&bootstrap);
    let (leader, isr) = leaders(&bootstrap)[&0].clone();
    let followers: Vec<i32> = isr.into_iter().filter(|b| *b != leader).collect();
    let ports: BTreeMap<i32, u16> = cluster.nodes.iter().map(|n| (n.id, n.port)).collect();
    let produce_to = |broker: i32, value: &str, acks: i16| produce_one(ports[&broker], value, acks);
    for i in 0..3 {
        assert_eq!(produce_to(leader, &format!("committed-{i}"), -1), (0, i));
    }
    // Followers paused well within their session: the leader takes acks=1 records that only
    // it has, then dies.
    for f in &followers {
        cluster.signal(cluster.index_of(*f), libc::SIGSTOP);
    }
    // A fetch the followers sent before they stopped is answered within the leader's long
    // poll (500 ms); after it, nothing the leader takes reaches them.
    std::thread::sleep(Duration::from_millis(800));
    for i in 0..3 {
        assert_eq!(produce_to(leader, &format!("lost-{i}"), 1), (0, 3 + i));
    }
    let deposed = cluster.index_of(leader);
    cluster.kill(deposed);
    for f in &followers {
        cluster.signal(cluster.index_of(*f), libc::SIGCONT);
    }
    let survivors = cluster.bootstrap();
    wait_until("a new leader", Duration::from_secs(20), || {
        leaders(&survivors)
            .get(&0)
            .is_some_and(|(l, _)| *l > 0 && *l != leader)
    });
    let (new_leader, _) = leaders(&survivors)[&0].clone();
    // The new leader stores other records at offsets 3.. .
    for i in 0..4 {
        let (code, offset) = produce_to(new_leader, &format!("new-{i}"), -1);
        assert_eq!((code, offset), (0, 3 + i));
    }
    cluster.launch(deposed);
    cluster.wait_serving(deposed);
    let bootstrap = cluster.bootstrap();
    wait_until(
        "the deposed leader back in the ISR",
        Duration::from_secs(30),
        || {
            leaders(&bootstrap)
                .get(&0)
                .is_some_and(|(_, isr)| isr.contains(&leader))
        },
    );
    let end = high_watermark(&bootstrap, 0);
    assert_eq!(end, 7);
    let new_copy = stored_batches(cluster.data_path(cluster.index_of(new_leader)), 0, end);
    wait_until(
        "the deposed leader's log equal to the new leader's",
        Duration::from_secs(30),
        || stored_batches(cluster.data_path(deposed), 0, end) == new_copy,
    );
    let values: Vec<String> = read_partition(&bootstrap, TOPIC, 0)
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert_eq!(
        values,
        [
            "committed-0",
            "committed-1",
            "committed-2",
            "new-0",
            "new-1",
            "new-2",
            "new-3"
        ]
    );
}

/// The partition's leader epoch as broker `port`'s Metadata (v12) has it.
fn metadata_leader_epoch(port: u16, partition: i32) -> i32 {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::MetadataRequest;
    use support::wire::{topic_name, Wire};
    let mut wire = Wire::connect(&format!("127.0.0.1:{port}"));
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name(TOPIC))),
    ]));
    let response = wire.request(12, &request);
    response.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .map(|p| p.leader_epoch)
        .expect("the partition in Metadata")
}

/// OffsetForLeaderEpoch v4 for partition 0, as a consumer asks it: (error code, epoch, end
/// offset).
fn end_offset_for_epoch(
    port: u16,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> (i16, i32, i64) {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    use kafka_protocol::messages::{BrokerId, OffsetForLeaderEpochRequest};
    use support::wire::{topic_name, Wire};
    let mut wire = Wire::connect(&format!("127.0.0.1:{port}"));
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(topic_name(TOPIC))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(leader_epoch)])]);
    let response = wire.request(4, &request);
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

/// A consumer's Fetch v12 and ListOffsets v7 (latest) of partition 0 naming
/// `current_leader_epoch`: their error codes.
fn fetch_and_list_in_epoch(port: u16, current_leader_epoch: i32) -> (i16, i16) {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};
    use support::wire::{fetch_request, topic_name, Wire};
    let mut wire = Wire::connect(&format!("127.0.0.1:{port}"));
    let mut fetch = fetch_request(TOPIC, 0, 0, 1 << 20);
    fetch.topics[0].partitions[0].current_leader_epoch = current_leader_epoch;
    let fetched = wire.request(12, &fetch).responses[0].partitions[0].error_code;
    let list = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(TOPIC))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(current_leader_epoch)
                .with_timestamp(-1)])]);
    let listed = wire.request(7, &list).topics[0].partitions[0].error_code;
    (fetched, listed)
}

/// KIP-101's first scenario, made deterministic: every replica has the acknowledged records,
/// but the followers' high watermarks are stale (they learn it from their next fetch, which
/// the leader holds for `replica.fetch.wait.max.ms`). The leader (1) stops; broker 2 is
/// elected and stops before it serves anything; broker 3 then follows 2 and is elected in
/// turn. A follower that cut its log to its high watermark on following 2 (Kafka before
/// KIP-101, and Weir before leader epochs) would lead without the last acknowledged record;
/// with leader epochs it keeps everything, and the others converge on it. Separate
/// controllers keep the quorum up while two brokers are stopped.
///
/// Also the leader epoch's wire checks (KIP-320) on the new leader: OffsetForLeaderEpoch's
/// answers, FENCED_LEADER_EPOCH and UNKNOWN_LEADER_EPOCH, and the `leader-epoch-checkpoint`;
/// and the "two of three brokers down" case while 1 and 2 are stopped.
#[test]
fn a_follower_with_a_stale_high_watermark_keeps_every_acknowledged_record_when_elected() {
    const FENCED_LEADER_EPOCH: i16 = 74;
    const UNKNOWN_LEADER_EPOCH: i16 = 75;
    let cluster = Cluster::start_separate(
        3,
        3,
        &[
            format!("broker.session.timeout.ms={SESSION_MS}"),
            "broker.heartbeat.interval.ms=500".into(),
            "offsets.topic.num.partitions=3".into(),
            "replica.fetch.wait.max.ms=20000".into(),
        ],
    );
    let bootstrap = cluster.bootstrap();
    create_topic_with(&bootstrap, 1, TopicReplication::Variable(&[&[1, 2, 3]]));
    let port = |id: i32| cluster.nodes[cluster.index_of(id)].port;
    let (leader, _) = leaders(&bootstrap)[&0].clone();
    assert_eq!(leader, 1, "the first replica of the assignment leads");
    let acknowledged: Vec<String> = (0..5).map(|i| format!("acked-{i}")).collect();
    // The first record with acks=1, then wait (bounded) for the followers to have it: their
    // fetchers take up a new partition only once their fetch in flight (held up to the 20 s
    // long poll when it finds nothing) returns, as Kafka's do.
    assert_eq!(produce_one(port(1), &acknowledged[0], 1), (0, 0));
    wait_until(
        "the followers fetching the new partition",
        Duration::from_secs(45),
        || high_watermark(&bootstrap, 0) == 1,
    );
    for (i, value) in acknowledged.iter().enumerate().skip(1) {
        assert_eq!(produce_one(port(1), value, -1), (0, i as i64));
    }
    // At once, well within the followers' 20 s long poll: they have every record but not the
    // high watermark that covers the last one.
    cluster.signal(cluster.index_of(1), libc::SIGSTOP);
    // Broker 2 stops 2 s later, so its session lapses a heartbeat round or more after 1's:
    // the controller elects 2 first, then 3.
    std::thread::sleep(Duration::from_secs(2));
    cluster.signal(cluster.index_of(2), libc::SIGSTOP);
    let only_3 = format!("127.0.0.1:{}", port(3));
    wait_until("broker 3 leads", Duration::from_secs(30), || {
        leaders(&only_3).get(&0).is_some_and(|(l, _)| *l == 3)
    });
    let followed_2 = cluster.log(cluster.index_of(3)).lines().any(|line| {
        line.contains("following a new leader")
            && line.contains(&format!("topic=\"{TOPIC}\" partition=0 leader=2 "))
    });
    assert!(
        followed_2,
        "broker 3 followed broker 2 before it led (the scenario's middle step)"
    );
    wait_until(
        "the new leader's high watermark at its log end",
        Duration::from_secs(10),
        || high_watermark(&only_3, 0) == acknowledged.len() as i64,
    );
    let values: Vec<String> = read_partition(&only_3, TOPIC, 0)
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert_eq!(
        values, acknowledged,
        "every acknowledged record, once, in order"
    );

    // The epochs: the records were written in the first epoch, the new leader's starts at 5.
    let epoch = metadata_leader_epoch(port(3), 0);
    let checkpoint = std::fs::read_to_string(
        cluster
            .data_path(cluster.index_of(3))
            .join(format!("{TOPIC}-0"))
            .join("leader-epoch-checkpoint"),
    )
    .expect("leader-epoch-checkpoint");
    let lines: Vec<&str> = checkpoint.lines().collect();
    assert_eq!(lines.len(), 4, "{checkpoint}");
    assert_eq!(
        &lines[..2],
        ["0", "2"],
        "version 0, two epochs: {checkpoint}"
    );
    let first: Vec<i64> = lines[2].split(' ').map(|f| f.parse().unwrap()).collect();
    assert_eq!(first[1], 0, "{checkpoint}");
    assert_eq!(lines[3], format!("{epoch} 5"), "{checkpoint}");
    let first_epoch = first[0] as i32;
    assert!(first_epoch < epoch);
    // OffsetForLeaderEpoch: the first epoch ended at 5, the current one at the log end; an
    // epoch between them answers with the largest epoch below it.
    assert_eq!(
        end_offset_for_epoch(port(3), epoch, first_epoch),
        (0, first_epoch, 5)
    );
    assert_eq!(end_offset_for_epoch(port(3), epoch, epoch), (0, epoch, 5));
    assert_eq!(
        end_offset_for_epoch(port(3), -1, epoch - 1),
        (0, first_epoch, 5)
    );
    // KIP-320: a client that names an older epoch is fenced, a newer one is unknown here.
    assert_eq!(
        end_offset_for_epoch(port(3), epoch - 1, first_epoch).0,
        FENCED_LEADER_EPOCH
    );
    assert_eq!(
        end_offset_for_epoch(port(3), epoch + 1, first_epoch).0,
        UNKNOWN_LEADER_EPOCH
    );
    assert_eq!(
        fetch_and_list_in_epoch(port(3), epoch - 1),
        (FENCED_LEADER_EPOCH, FENCED_LEADER_EPOCH)
    );
    assert_eq!(
        fetch_and_list_in_epoch(port(3), epoch + 1),
        (UNKNOWN_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH)
    );
    assert_eq!(fetch_and_list_in_epoch(port(3), epoch), (0, 0));

    // Two of three brokers down (the ISR is 3 alone, min.insync.replicas=2): acks=all is
    // refused before the append, acks=1 lands, consumers read up to the high watermark.
    assert_eq!(
        produce_one(port(3), "refused", -1),
        (19, -1),
        "NOT_ENOUGH_REPLICAS"
    );
    assert_eq!(produce_one(port(3), "after", 1), (0, 5));
    assert_eq!(read_partition(&only_3, TOPIC, 0).len(), 6);

    // The stopped brokers come back as followers of 3, keep what agrees with its log, and end
    // byte-identical to it; the ISR is whole again.
    cluster.signal(cluster.index_of(1), libc::SIGCONT);
    cluster.signal(cluster.index_of(2), libc::SIGCONT);
    let bootstrap = cluster.bootstrap();
    wait_until("a full ISR again", Duration::from_secs(60), || {
        leaders(&only_3)
            .get(&0)
            .is_some_and(|(l, isr)| *l == 3 && isr.len() == 3)
    });
    let leader_copy = stored_batches(cluster.data_path(cluster.index_of(3)), 0, 6);
    for id in [1, 2] {
        wait_until(
            &format!("broker {id}'s log equal to the leader's"),
            Duration::from_secs(30),
            || stored_batches(cluster.data_path(cluster.index_of(id)), 0, 6) == leader_copy,
        );
    }
    assert_eq!(read_partition(&bootstrap, TOPIC, 0).len(), 6);
    assert_eq!(produce_one(port(3), "whole-again", -1), (0, 6));
}

/// Fetch from the closest replica (KIP-392): with `replica.selector.class` set to Kafka's
/// RackAwareReplicaSelector and each broker in its own rack, the leader answers a consumer of
/// another rack with `preferred_read_replica` (the in-sync follower there) and no records; a
/// librdkafka consumer with that `client.rack` then reads everything from the follower, whose
/// /metrics show the bytes served, while a consumer of the leader's rack is served by the
/// leader.
#[test]
fn a_consumer_fetches_from_the_in_sync_follower_of_its_rack() {
    use rdkafka::{Message, Offset, TopicPartitionList};
    use support::wire::{fetch_request, Wire};
    let cluster = Cluster::start(
        3,
        &[
            format!("broker.session.timeout.ms={SESSION_MS}"),
            "broker.heartbeat.interval.ms=500".into(),
            "offsets.topic.num.partitions=3".into(),
            "broker.rack=rack-{node.id}".into(),
            "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector"
                .into(),
        ],
    );
    let bootstrap = cluster.bootstrap();
    create_topic_with(&bootstrap, 1, TopicReplication::Variable(&[&[1, 2, 3]]));
    let port = |id: i32| cluster.nodes[cluster.index_of(id)].port;
    let values: Vec<String> = (0..20).map(|i| format!("near-{i}")).collect();
    for (i, value) in values.iter().enumerate() {
        assert_eq!(produce_one(port(1), value, -1), (0, i as i64));
    }
    // The leader's answer to a Fetch v11 from each rack.
    let from_rack = |rack: &str| {
        let mut request = fetch_request(TOPIC, 0, 0, 1 << 20);
        request.rack_id = rack.to_string().into();
        let response = Wire::connect(&format!("127.0.0.1:{}", port(1))).request(11, &request);
        let p = &response.responses[0].partitions[0];
        (
            p.error_code,
            p.preferred_read_replica.0,
            p.records.as_ref().map_or(0, |r| r.len()),
        )
    };
    let (code, preferred, bytes) = from_rack("rack-3");
    assert_eq!(
        (code, preferred, bytes),
        (0, 3, 0),
        "sent to broker 3, no records"
    );
    let (code, preferred, bytes) = from_rack("rack-1");
    assert_eq!((code, preferred), (0, -1), "the leader's own rack");
    assert!(bytes > 0);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "near-readers")
        .set("enable.auto.commit", "false")
        .set("client.rack", "rack-3")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let mut read = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while read.len() < values.len() {
        assert!(
            Instant::now() < deadline,
            "read {} of {}",
            read.len(),
            values.len()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("fetch");
            read.push(String::from_utf8_lossy(message.payload().unwrap_or(&[])).into_owned());
        }
    }
    assert_eq!(read, values);
    let served = |id: i32| {
        let metrics = support::admin::scrape(cluster.nodes[cluster.index_of(id)].admin_port);
        let series =
            format!("weir_partition_fetch_bytes_total{{topic=\"{TOPIC}\",partition=\"0\"}}");
        support::admin::value(&metrics, &series).unwrap_or(0.0)
    };
    assert!(served(3) > 0.0, "broker 3 (rack-3) served the consumer");
    assert_eq!(served(2), 0.0, "broker 2 serves no consumer");
}

/// Established TCP connections on this machine (this network namespace): (local address,
/// remote address), from /proc/net/tcp.
fn established_connections() -> Vec<(std::net::SocketAddrV4, std::net::SocketAddrV4)> {
    // "0B00007F:1F90": the IPv4 address as a little-endian hex word, then the port in hex.
    let parse = |field: &str| {
        let (ip, port) = field.split_once(':')?;
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        Some(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::from(ip.swap_bytes()),
            port,
        ))
    };
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // State 01 is ESTABLISHED.
            (fields.get(3) == Some(&"01")).then_some(())?;
            Some((parse(fields.get(1)?)?, parse(fields.get(2)?)?))
        })
        .collect()
}

/// Nodes laid out on their own loopback addresses (127.0.0.11, .12, .13, as the fault suite of
/// issue 17 runs them) connect to each other from those addresses: every quorum link, and each
/// follower's replica fetcher to its leader. A firewall rule on a pair of addresses can then
/// cut exactly the link between two nodes. (Without the bound source, the kernel would pick
/// 127.0.0.1 for all of them.)
#[test]
fn nodes_on_their_own_loopback_addresses_connect_from_them() {
    let cluster = Cluster::start_at_own_addresses(
        3,
        &[
            format!("broker.session.timeout.ms={SESSION_MS}"),
            "broker.heartbeat.interval.ms=500".into(),
            "offsets.topic.num.partitions=3".into(),
        ],
    );
    let bootstrap = cluster.bootstrap();
    create_topic_with(&bootstrap, 1, TopicReplication::Variable(&[&[1, 2, 3]]));
    let first = &cluster.nodes[cluster.index_of(1)];
    let first = format!("{}:{}", first.host, first.port);
    assert_eq!(produce_one_at(&first, "x", -1), (0, 0));
    let address = |id: i32, port: u16| {
        let host: std::net::Ipv4Addr = cluster.nodes[cluster.index_of(id)]
            .host
            .parse()
            .expect("node host");
        std::net::SocketAddrV4::new(host, port)
    };
    let node = |id: i32| &cluster.nodes[cluster.index_of(id)];
    let connected = |from: i32, to: std::net::SocketAddrV4| {
        let from = *address(from, 0).ip();
        established_connections()
            .iter()
            .any(|(local, remote)| *local.ip() == from && *remote == to)
    };
    for from in 1..=3 {
        for to in (1..=3).filter(|to| *to != from) {
            let controller = address(to, node(to).controller_port);
            wait_until(
                &format!("node {from}'s quorum link to node {to} from its own address"),
                Duration::from_secs(10),
                || connected(from, controller),
            );
        }
    }
    let leader = address(1, node(1).port);
    for follower in [2, 3] {
        assert!(
            connected(follower, leader),
            "node {follower}'s replica fetcher connects to the leader from its own address: {:?}",
            established_connections()
        );
    }
}
