//! Transactions (KIP-98) through librdkafka's transactional producer against real `weir serve`
//! processes: commit, abort and commit again, read back by read_committed and
//! read_uncommitted consumers; zombie fencing; the coordinator's timeout abort; a restart in
//! the middle of a transaction; offsets committed inside a transaction
//! (send_offsets_to_transaction, KIP-447).

mod support;

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use support::broker::Broker;
use support::kafka::{create_topic, group_consumer_with, wait_until};

const TIMEOUT: Duration = Duration::from_secs(30);

fn transactional_producer(bootstrap: &str, transactional_id: &str) -> BaseProducer {
    transactional_producer_with(bootstrap, transactional_id, &[])
}

fn transactional_producer_with(
    bootstrap: &str,
    transactional_id: &str,
    extra: &[(&str, &str)],
) -> BaseProducer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", transactional_id)
        .set("linger.ms", "5");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    let producer: BaseProducer = config.create().expect("transactional producer");
    producer
        .init_transactions(TIMEOUT)
        .expect("init_transactions");
    producer
}

/// Sends `values` to partition `partition` of `topic` inside the producer's open transaction
/// and waits until each is acknowledged.
fn send_all(producer: &BaseProducer, topic: &str, partition: i32, values: &[String]) {
    for value in values {
        producer
            .send(
                BaseRecord::<str, str>::to(topic)
                    .partition(partition)
                    .key(value.as_str())
                    .payload(value.as_str()),
            )
            .expect("send");
    }
    producer.flush(TIMEOUT).expect("flush");
}

fn values(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

/// Everything in `topic` from the start as `isolation.level` sees it, as (partition, value),
/// read until every partition's end was reached.
fn read_all(bootstrap: &str, topic: &str, partitions: i32, isolation: &str) -> Vec<(i32, String)> {
    read_records(bootstrap, topic, partitions, isolation)
        .into_iter()
        .map(|(partition, _, value)| (partition, value))
        .collect()
}

/// `read_all` with keys: (partition, key, value) per record.
fn read_records(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
) -> Vec<(i32, String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("reader-{isolation}-{}", std::process::id()),
        )
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let mut read = Vec::new();
    let mut at_end = std::collections::HashSet::new();
    let deadline = Instant::now() + TIMEOUT;
    while at_end.len() < partitions as usize {
        assert!(Instant::now() < deadline, "reading {topic} timed out");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                at_end.remove(&message.partition());
                let text =
                    |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
                read.push((
                    message.partition(),
                    text(message.key()),
                    text(message.payload()),
                ));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            // A broker that just died or is paused: the client retries elsewhere.
            Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown,
            ))) => {}
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    read
}

fn values_of(read: &[(i32, String)]) -> Vec<String> {
    read.iter().map(|(_, v)| v.clone()).collect()
}

/// KIP-98's basic promise: commit, abort, commit. read_committed sees exactly the committed
/// records in order; read_uncommitted sees all of them; nobody sees a marker as a record.
/// The log end includes the markers, and ListOffsets with READ_COMMITTED answers the LSO.
#[test]
fn committed_records_are_seen_and_aborted_ones_are_not() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "ledger", 1);
    let producer = transactional_producer(&bootstrap, "ledger-writer");

    producer.begin_transaction().expect("begin 1");
    send_all(&producer, "ledger", 0, &values("first", 10));
    producer.commit_transaction(TIMEOUT).expect("commit 1");

    producer.begin_transaction().expect("begin 2");
    send_all(&producer, "ledger", 0, &values("aborted", 10));
    producer.abort_transaction(TIMEOUT).expect("abort");

    producer.begin_transaction().expect("begin 3");
    send_all(&producer, "ledger", 0, &values("second", 10));
    producer.commit_transaction(TIMEOUT).expect("commit 2");

    let committed = read_all(&bootstrap, "ledger", 1, "read_committed");
    let expected: Vec<String> = values("first", 10)
        .into_iter()
        .chain(values("second", 10))
        .collect();
    assert_eq!(values_of(&committed), expected);

    let everything = read_all(&bootstrap, "ledger", 1, "read_uncommitted");
    let expected_all: Vec<String> = values("first", 10)
        .into_iter()
        .chain(values("aborted", 10))
        .chain(values("second", 10))
        .collect();
    assert_eq!(values_of(&everything), expected_all);

    // 30 records and 3 markers: the high watermark is 33, and with nothing open the LSO too.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks("ledger", 0, TIMEOUT)
        .expect("watermarks");
    assert_eq!(high, 33);
}

/// An open transaction holds back read_committed readers (the LSO stays at its first
/// offset) but not read_uncommitted ones; its commit releases it.
#[test]
fn an_open_transaction_holds_the_last_stable_offset() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "pending", 1);
    let producer = transactional_producer(&bootstrap, "pending-writer");
    producer.begin_transaction().unwrap();
    send_all(&producer, "pending", 0, &values("committed", 5));
    producer.commit_transaction(TIMEOUT).unwrap();
    producer.begin_transaction().unwrap();
    send_all(&producer, "pending", 0, &values("open", 5));

    assert_eq!(
        values_of(&read_all(&bootstrap, "pending", 1, "read_committed")),
        values("committed", 5)
    );
    assert_eq!(
        read_all(&bootstrap, "pending", 1, "read_uncommitted").len(),
        10
    );

    producer.commit_transaction(TIMEOUT).unwrap();
    let after = values_of(&read_all(&bootstrap, "pending", 1, "read_committed"));
    assert_eq!(after.len(), 10);
    assert_eq!(&after[5..], &values("open", 5)[..]);
}

/// Zombie fencing: a second producer with the same transactional id fences the first. The
/// first's open transaction is aborted, and its next transactional call fails as fenced.
#[test]
fn a_new_producer_with_the_same_id_fences_the_old_one() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "fenced", 1);
    let zombie = transactional_producer(&bootstrap, "shared-id");
    zombie.begin_transaction().unwrap();
    send_all(&zombie, "fenced", 0, &values("zombie", 5));

    let successor = transactional_producer(&bootstrap, "shared-id");
    successor.begin_transaction().unwrap();
    send_all(&successor, "fenced", 0, &values("successor", 5));
    successor.commit_transaction(TIMEOUT).unwrap();

    let outcome = zombie.commit_transaction(TIMEOUT);
    let error = outcome.expect_err("the fenced producer's commit fails");
    let code = error.rdkafka_error_code();
    assert!(
        matches!(
            code,
            // librdkafka reports PRODUCER_FENCED from the broker as its local "fenced" error.
            Some(RDKafkaErrorCode::Fenced)
                | Some(RDKafkaErrorCode::ProducerFenced)
                | Some(RDKafkaErrorCode::InvalidProducerEpoch)
        ),
        "fenced, got {error:?}"
    );
    assert_eq!(
        values_of(&read_all(&bootstrap, "fenced", 1, "read_committed")),
        values("successor", 5),
        "the zombie's transaction was aborted"
    );
}

/// A transaction left open past `transaction.timeout.ms` is aborted by the coordinator, which
/// also fences its producer.
#[test]
fn the_coordinator_aborts_a_transaction_past_its_timeout() {
    let broker =
        Broker::start_with(&["transaction.abort.timed.out.transaction.cleanup.interval.ms=200"]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "slow", 1);
    let producer = transactional_producer_with(
        &bootstrap,
        "slow-writer",
        &[("transaction.timeout.ms", "1500")],
    );
    producer.begin_transaction().unwrap();
    send_all(&producer, "slow", 0, &values("abandoned", 5));
    // The timeout passes; the coordinator writes the abort marker: the LSO moves past it.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    wait_until("the timed-out transaction's abort marker", TIMEOUT, || {
        consumer
            .fetch_watermarks("slow", 0, TIMEOUT)
            .is_ok_and(|(_, high)| high == 6)
    });
    assert!(read_all(&bootstrap, "slow", 1, "read_committed").is_empty());
    assert!(
        producer.commit_transaction(TIMEOUT).is_err(),
        "the aborted transaction cannot commit"
    );
}

/// A broker restarted with a transaction open keeps it open (its records stay invisible to
/// read_committed), and the producer's commit afterwards completes it.
#[test]
fn a_transaction_survives_a_broker_restart() {
    let mut broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "durable", 2);
    let producer = transactional_producer(&bootstrap, "durable-writer");
    producer.begin_transaction().unwrap();
    send_all(&producer, "durable", 0, &values("p0", 5));
    send_all(&producer, "durable", 1, &values("p1", 5));
    broker.crash_and_restart();
    assert!(read_all(&bootstrap, "durable", 2, "read_committed").is_empty());
    // librdkafka retries the commit while the coordinator loads.
    producer
        .commit_transaction(TIMEOUT)
        .expect("commit after restart");
    let read = read_all(&bootstrap, "durable", 2, "read_committed");
    assert_eq!(read.len(), 10);
}

/// Exactly-once consume-transform-produce (KIP-447): offsets sent inside the transaction are
/// the group's committed offsets only when it commits; an aborted transaction's offsets are
/// not, and a read_committed consumer's OffsetFetch waits for them (UNSTABLE_OFFSET_COMMIT).
#[test]
fn offsets_sent_in_a_transaction_count_only_when_it_commits() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "input", 1);
    create_topic(&bootstrap, "output", 1);
    let producer = transactional_producer(&bootstrap, "transformer");
    let consumer = group_consumer_with(
        &bootstrap,
        "transformers",
        &[("isolation.level", "read_committed")],
    );
    consumer.subscribe(&["input"]).unwrap();
    // Wait for the assignment.
    wait_until("the group's assignment", TIMEOUT, || {
        consumer.poll(Duration::from_millis(100));
        consumer.assignment().is_ok_and(|a| a.count() == 1)
    });

    let commit_offsets = |offset: i64, commit: bool| {
        producer.begin_transaction().unwrap();
        send_all(&producer, "output", 0, &values(&format!("out-{offset}"), 1));
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset("input", 0, Offset::Offset(offset))
            .unwrap();
        let metadata = consumer.group_metadata().expect("group metadata");
        producer
            .send_offsets_to_transaction(&offsets, &metadata, TIMEOUT)
            .expect("send_offsets_to_transaction");
        match commit {
            true => producer.commit_transaction(TIMEOUT).unwrap(),
            false => producer.abort_transaction(TIMEOUT).unwrap(),
        }
    };
    let committed = || {
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition("input", 0);
        let list = consumer.committed_offsets(wanted, TIMEOUT).unwrap();
        list.find_partition("input", 0).unwrap().offset()
    };
    commit_offsets(7, true);
    assert_eq!(committed(), Offset::Offset(7));
    commit_offsets(9, false);
    assert_eq!(
        committed(),
        Offset::Offset(7),
        "an aborted transaction's offsets do not count"
    );
    commit_offsets(12, true);
    assert_eq!(committed(), Offset::Offset(12));
    // An open transaction's offsets: a read_committed consumer's OffsetFetch (require_stable)
    // waits for them (UNSTABLE_OFFSET_COMMIT, retried by librdkafka) until the commit.
    producer.begin_transaction().unwrap();
    let mut pending = TopicPartitionList::new();
    pending
        .add_partition_offset("input", 0, Offset::Offset(15))
        .unwrap();
    producer
        .send_offsets_to_transaction(&pending, &consumer.group_metadata().unwrap(), TIMEOUT)
        .unwrap();
    let waiting = std::thread::spawn({
        let bootstrap = bootstrap.clone();
        move || {
            let reader = group_consumer_with(
                &bootstrap,
                "transformers",
                &[("isolation.level", "read_committed")],
            );
            let mut wanted = TopicPartitionList::new();
            wanted.add_partition("input", 0);
            let list = reader.committed_offsets(wanted, TIMEOUT).unwrap();
            list.find_partition("input", 0).unwrap().offset()
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    producer.commit_transaction(TIMEOUT).unwrap();
    assert_eq!(waiting.join().unwrap(), Offset::Offset(15));
    // The offsets come back from `__consumer_offsets` (transactional batches and markers)
    // after a restart.
    drop(consumer);
    let mut broker = broker;
    broker.crash_and_restart();
    let consumer = group_consumer_with(&bootstrap, "transformers", &[]);
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("input", 0);
    let mut after_restart = Offset::Invalid;
    wait_until("the committed offset after a restart", TIMEOUT, || {
        after_restart = consumer
            .committed_offsets(wanted.clone(), Duration::from_secs(5))
            .ok()
            .and_then(|l| l.find_partition("input", 0).map(|p| p.offset()))
            .unwrap_or(Offset::Invalid);
        after_restart != Offset::Invalid
    });
    assert_eq!(after_restart, Offset::Offset(15));
    assert_eq!(
        values_of(&read_all(&bootstrap, "output", 1, "read_committed")),
        vec!["out-7-0".to_string(), "out-12-0".to_string()]
    );
}

/// The consume-transform-produce loop of `tests/python/transformer.py` (kafka-python's
/// transactional producer), killed with SIGKILL at random points over several cycles and
/// started again each time: the output topic, read committed, holds every input exactly once
/// in order, and the group's committed offset is the input's end.
#[test]
fn a_transform_loop_killed_at_random_points_outputs_each_input_once() {
    const TOTAL: usize = 1500;
    const KILLS: usize = 5;
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 1);
    create_topic(&bootstrap, "shipments", 1);
    support::kafka::produce(&bootstrap, "orders", TOTAL);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/transformer.py");
    let start = || {
        std::process::Command::new(support::python::python())
            .arg(&script)
            .args([&bootstrap, "orders", "shipments", "shippers", "shipper-1"])
            .arg(TOTAL.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the transformer")
    };
    // Each run is killed a random 0-40 ms after one of its commits (the next transaction is
    // then anywhere between its first send and its EndTxn), from a seed printed for a rerun.
    let mut seed = std::env::var("WEIR_TXN_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| u64::from(std::process::id()));
    println!("kill seed {seed} (WEIR_TXN_SEED reruns it)");
    let mut next_random = move |below: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % below
    };
    let mut progress = 0;
    for cycle in 0..KILLS {
        let mut child = start();
        let lines = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let commits_before_kill = 1 + next_random(4);
        let mut commits = 0;
        for line in std::io::BufRead::lines(lines) {
            let line = line.expect("transformer output");
            if let Some(offset) = line.strip_prefix("committed ") {
                progress = offset.parse().expect("committed offset");
                commits += 1;
                if commits == commits_before_kill {
                    break;
                }
            }
            assert!(
                line != "done",
                "cycle {cycle}: the input ran out before the kill"
            );
        }
        assert_eq!(
            commits, commits_before_kill,
            "cycle {cycle}: the transformer stopped"
        );
        std::thread::sleep(Duration::from_millis(next_random(40)));
        child.kill().expect("SIGKILL the transformer");
        let _ = child.wait();
        println!("cycle {cycle}: killed after offset {progress}");
    }
    assert!(progress < TOTAL as i64, "work was left for the last run");
    let child = start();
    let output = child.wait_with_output().expect("transformer output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("done"), "the last run finishes: {stdout}");

    let expected: Vec<String> = (0..TOTAL).map(|i| format!("out:v-{i}")).collect();
    assert_eq!(
        values_of(&read_all(&bootstrap, "shipments", 1, "read_committed")),
        expected,
        "every input exactly once, in order"
    );
    assert_eq!(
        support::kafka::committed_total(&bootstrap, "shippers", "orders", 1),
        TOTAL as i64
    );
}

/// Partition → leader of `topic`, as librdkafka sees it.
fn leaders(bootstrap: &str, topic: &str) -> std::collections::BTreeMap<i32, i32> {
    support::kafka::partition_leaders(bootstrap, topic)
        .into_iter()
        .map(|(partition, (leader, _))| (partition, leader))
        .collect()
}

/// The broker FindCoordinator names for `transactional_id` (key type 1), asked at `address`.
fn transaction_coordinator(address: &str, transactional_id: &str) -> Option<i32> {
    use kafka_protocol::messages::FindCoordinatorRequest;
    use kafka_protocol::protocol::StrBytes;
    let mut wire = support::wire::Wire::try_connect(address, Duration::from_secs(5))?;
    let request = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(transactional_id.to_string()))
        .with_key_type(1);
    let response: kafka_protocol::messages::FindCoordinatorResponse =
        wire.try_request(3, &request)?;
    (response.error_code == 0).then_some(response.node_id.0)
}

/// In a 3-broker cluster: the markers of a transaction reach the partitions other brokers
/// lead; and when the coordinator dies after the commit was decided (PrepareCommit written)
/// but before every marker was written — one partition's leader is paused meanwhile — the
/// next coordinator loads the decision from `__transaction_state` and completes the commit;
/// the dead coordinator, restarted, catches up with every marker.
#[test]
fn markers_cross_brokers_and_a_new_coordinator_completes_a_decided_commit() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use support::cluster::Cluster;

    const ID: &str = "spreader";
    const PER_PARTITION: usize = 20;
    let mut cluster = Cluster::start(
        3,
        &[
            "broker.session.timeout.ms=3000".into(),
            "broker.heartbeat.interval.ms=500".into(),
            "replica.lag.time.max.ms=2000".into(),
            "offsets.topic.num.partitions=3".into(),
            "transaction.state.log.num.partitions=3".into(),
        ],
    );
    let bootstrap = cluster.bootstrap();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin client");
    let topic =
        NewTopic::new("spread", 3, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options)).unwrap() {
        result.expect("topic created");
    }
    wait_until("leaders for every partition", TIMEOUT, || {
        let view = leaders(&bootstrap, "spread");
        view.len() == 3 && view.values().all(|l| *l > 0)
    });
    let producer = transactional_producer(&bootstrap, ID);
    let send_everywhere = |prefix: &str| {
        for p in 0..3 {
            send_all(
                &producer,
                "spread",
                p,
                &values(&format!("{prefix}-p{p}"), PER_PARTITION),
            );
        }
    };
    producer.begin_transaction().unwrap();
    send_everywhere("first");
    producer.commit_transaction(TIMEOUT).expect("first commit");

    let first_broker = bootstrap.split(',').next().unwrap().to_string();
    let coordinator = transaction_coordinator(&first_broker, ID).expect("a coordinator");
    let view = leaders(&bootstrap, "spread");
    let (&partition, &elsewhere) = view
        .iter()
        .find(|(_, leader)| **leader != coordinator)
        .expect("a partition led by another broker than the coordinator");
    println!("coordinator {coordinator}; partition {partition} led by {elsewhere}");
    wait_until("the first transaction, read committed", TIMEOUT, || {
        read_all(&bootstrap, "spread", 3, "read_committed").len() == 3 * PER_PARTITION
    });

    // The second transaction's commit is decided while `elsewhere` is paused; the coordinator
    // dies before that partition can take its marker.
    producer.begin_transaction().unwrap();
    send_everywhere("second");
    let paused = cluster.index_of(elsewhere);
    cluster.signal(paused, libc::SIGSTOP);
    let committed = producer.commit_transaction(TIMEOUT);
    cluster.kill(cluster.index_of(coordinator));
    cluster.signal(paused, libc::SIGCONT);
    committed.expect("the commit was decided");

    let survivors = cluster.bootstrap();
    wait_until(
        "the decided commit, completed by the next coordinator",
        Duration::from_secs(60),
        || read_all(&survivors, "spread", 3, "read_committed").len() == 6 * PER_PARTITION,
    );
    // The commit was indeed unfinished when the coordinator died: its successor found it so.
    let dead = cluster.index_of(coordinator);
    assert!(
        (0..3)
            .filter(|i| *i != dead)
            .any(|i| cluster.log(i).contains("unfinished=1")),
        "the next coordinator loaded the decided, unfinished transaction"
    );
    let read = values_of(&read_all(&survivors, "spread", 3, "read_committed"));
    for prefix in ["first", "second"] {
        for p in 0..3 {
            for v in values(&format!("{prefix}-p{p}"), PER_PARTITION) {
                assert_eq!(read.iter().filter(|r| **r == v).count(), 1, "{v} once");
            }
        }
    }

    // The dead coordinator restarts in the middle of its commit's completion: it catches up
    // (the commit markers included) and holds byte-identical replicas of every partition.
    cluster.launch(dead);
    cluster.wait_serving(dead);
    let view = leaders(&cluster.bootstrap(), "spread");
    let watermarks: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .expect("consumer");
    for partition in 0..3 {
        let leader = view[&partition];
        let (_, end) = watermarks
            .fetch_watermarks("spread", partition, TIMEOUT)
            .expect("watermarks");
        let leader_batches = support::cluster::stored_batch_list(
            cluster.data_path(cluster.index_of(leader)),
            "spread",
            partition,
            end,
        );
        let controls = leader_batches
            .iter()
            .filter(|batch| batch.attributes().is_control())
            .count();
        let leader_copy: Vec<u8> = leader_batches
            .iter()
            .flat_map(|batch| batch.as_bytes().iter().copied())
            .collect();
        assert!(
            controls >= 2,
            "both commit markers on partition {partition}"
        );
        wait_until(
            &format!("the restarted broker's copy of spread-{partition}"),
            Duration::from_secs(60),
            || {
                support::cluster::stored_batches(cluster.data_path(dead), "spread", partition, end)
                    == leader_copy
            },
        );
    }
}

/// Runs `weir transactions ...` against `bootstrap` with JSON output; its parsed document.
fn transactions_tool(bootstrap: &str, args: &[&str]) -> serde_json::Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("transactions")
        .args(args)
        .args(["--bootstrap-server", bootstrap, "--output", "json"])
        .output()
        .expect("run weir transactions");
    assert!(
        output.status.success(),
        "weir transactions {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// `weir transactions list` shows every id with its state; `describe` an open transaction's
/// partitions, and TRANSACTIONAL_ID_NOT_FOUND for an id nobody used.
#[test]
fn the_transactions_tool_lists_and_describes() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "audited", 2);
    let done = transactional_producer(&bootstrap, "done-writer");
    done.begin_transaction().unwrap();
    send_all(&done, "audited", 0, &values("x", 3));
    done.commit_transaction(TIMEOUT).unwrap();
    let open = transactional_producer(&bootstrap, "open-writer");
    open.begin_transaction().unwrap();
    send_all(&open, "audited", 1, &values("y", 3));

    let listed = transactions_tool(&bootstrap, &["list"]);
    let states: std::collections::BTreeMap<String, String> = listed["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["transactional_id"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states.get("done-writer").map(String::as_str),
        Some("CompleteCommit")
    );
    assert_eq!(
        states.get("open-writer").map(String::as_str),
        Some("Ongoing")
    );

    let described = transactions_tool(
        &bootstrap,
        &["describe", "--transactional-id", "open-writer"],
    );
    assert_eq!(described["state"], "Ongoing");
    assert_eq!(described["partitions"], serde_json::json!(["audited-1"]));
    assert!(described["open_ms"].as_i64().is_some());

    // Consumer lag per isolation level: with the open transaction's records at 0..=2 of
    // partition 1, the high watermark is 3 and the last stable offset 0.
    let consumer = group_consumer_with(&bootstrap, "auditors", &[]);
    let mut at_start = TopicPartitionList::new();
    at_start
        .add_partition_offset("audited", 1, Offset::Offset(0))
        .unwrap();
    consumer
        .commit(&at_start, rdkafka::consumer::CommitMode::Sync)
        .expect("commit offset 0");
    let lag_end = |isolation: &str| {
        let described = transactions_group_describe(&bootstrap, "auditors", isolation);
        described["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["topic"] == "audited" && p["partition"] == 1)
            .map(|p| (p["log_end_offset"].as_i64(), p["lag"].as_i64()))
            .unwrap()
    };
    assert_eq!(lag_end("read_uncommitted"), (Some(3), Some(3)));
    assert_eq!(lag_end("read_committed"), (Some(0), Some(0)));

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["transactions", "describe", "--transactional-id", "nobody"])
        .args(["--bootstrap-server", &bootstrap])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("TRANSACTIONAL_ID_NOT_FOUND"), "{stderr}");
    open.abort_transaction(TIMEOUT).unwrap();
}

/// `weir group describe GROUP --isolation-level ISOLATION --output json`.
fn transactions_group_describe(bootstrap: &str, group: &str, isolation: &str) -> serde_json::Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["group", "describe", group, "--isolation-level", isolation])
        .args(["--bootstrap-server", bootstrap, "--output", "json"])
        .output()
        .expect("run weir group describe");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// Compaction and transactions (Kafka's cleaner): an aborted transaction's records are
/// removed and supersede nothing, so the committed value of each key survives; the markers
/// stay, and read_committed readers see the same latest values before and after.
#[test]
fn compaction_removes_aborted_records_and_keeps_committed_values() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;

    let broker = Broker::start_with(&["log.cleaner.backoff.ms=200"]);
    let bootstrap = broker.bootstrap();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let topic = NewTopic::new("balances", 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "8192")
        .set("min.cleanable.dirty.ratio", "0.01");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options)).unwrap() {
        result.expect("compacted topic created");
    }
    let producer = transactional_producer(&bootstrap, "balance-writer");
    let keyed = |producer: &BaseProducer, key: &str, value: &str| {
        producer
            .send(
                BaseRecord::<str, str>::to("balances")
                    .partition(0)
                    .key(key)
                    .payload(value),
            )
            .expect("send");
    };
    // Committed values, then an aborted transaction overwriting them all.
    producer.begin_transaction().unwrap();
    for k in 0..10 {
        keyed(
            &producer,
            &format!("account-{k}"),
            &format!("committed-{k}"),
        );
    }
    producer.commit_transaction(TIMEOUT).unwrap();
    producer.begin_transaction().unwrap();
    for k in 0..10 {
        keyed(&producer, &format!("account-{k}"), &format!("aborted-{k}"));
    }
    producer.flush(TIMEOUT).unwrap();
    producer.abort_transaction(TIMEOUT).unwrap();
    // Committed updates of other keys, enough to roll segments past the aborted records.
    for round in 0..30 {
        producer.begin_transaction().unwrap();
        for k in 0..10 {
            keyed(
                &producer,
                &format!("other-{k}"),
                &format!("round-{round}-{}", "x".repeat(200)),
            );
        }
        producer.commit_transaction(TIMEOUT).unwrap();
    }
    let latest = |isolation: &str| {
        let mut values = std::collections::BTreeMap::new();
        for (_, key, value) in read_records(&bootstrap, "balances", 1, isolation) {
            values.insert(key, value);
        }
        values
    };
    let before = latest("read_committed");
    for k in 0..10 {
        assert_eq!(before[&format!("account-{k}")], format!("committed-{k}"));
    }
    // The cleaner removes the aborted records: read_uncommitted no longer sees them.
    wait_until("the aborted records compacted away", TIMEOUT, || {
        read_all(&bootstrap, "balances", 1, "read_uncommitted")
            .iter()
            .all(|(_, v)| !v.starts_with("aborted"))
    });
    let after = latest("read_committed");
    assert_eq!(after, before, "compaction kept every key's committed value");
    assert_eq!(latest("read_uncommitted"), before);
}
