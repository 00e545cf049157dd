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
use rdkafka::types::RDKafkaErrorCode;

use kafka_protocol::messages::MetadataRequest;
use support::cluster::Cluster;
use support::kafka::{send_retrying, wait_until};
use support::wire::Wire;

/// Shorter than Kafka's 9 s so the suite stays fast; the fencing path is the same.
const SESSION_MS: u64 = 3000;

/// One cluster at a time: three nodes per test already share this machine's two cores, and
/// the failover timings measured here should not include other tests' load.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start() -> (std::sync::MutexGuard<'static, ()>, Cluster) {
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    (turn, Cluster::start(3, &timing_overrides()))
}

fn timing_overrides() -> Vec<String> {
    vec![
        format!("broker.session.timeout.ms={SESSION_MS}"),
        "broker.heartbeat.interval.ms=500".into(),
        "offsets.topic.num.partitions=3".into(),
    ]
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

/// CreateTopics until a controller takes it (bounded: 30 s after `started`); returns the
/// errors of the tries before. A try that timed out may still have created the topic: its
/// retry is then answered TOPIC_ALREADY_EXISTS, as Kafka answers it.
fn create_topic_retrying(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    replicas: i32,
    started: Instant,
) -> Vec<String> {
    let mut errors = Vec::new();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no controller took CreateTopics: {errors:?}"
        );
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("admin client");
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replicas));
        let options = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(10)))
            .request_timeout(Some(Duration::from_secs(10)));
        match futures_lite::future::block_on(admin.create_topics([&topic], &options)) {
            Ok(results) => match &results[0] {
                Ok(_) => return errors,
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => return errors,
                Err((_, code)) => errors.push(format!("{code:?}")),
            },
            Err(e) => errors.push(e.to_string()),
        }
        std::thread::sleep(Duration::from_millis(200));
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

/// `weir cluster describe --output json` against one node.
fn cluster_describe(port: u16) -> serde_json::Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["cluster", "describe", "--output", "json", "-b"])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("run weir cluster describe");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

#[test]
fn three_brokers_form_one_cluster_and_a_killed_broker_loses_its_leaderships() {
    let (_turn, mut cluster) = start();
    let bootstrap = cluster.bootstrap();
    wait_until("three brokers in Metadata", Duration::from_secs(20), || {
        view(&bootstrap, "__consumer_offsets").is_some_and(|(b, _)| b.len() == 3)
    });

    // `weir cluster describe` (Metadata and DescribeQuorum) from every node, followers
    // forwarding DescribeQuorum to the active controller: three brokers, the controller is
    // the quorum leader, and every voter catches up with the high watermark.
    for node in &cluster.nodes {
        wait_until("every voter caught up", Duration::from_secs(20), || {
            let described = cluster_describe(node.port);
            let voters = described["quorum"]["voters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            described["brokers"].as_array().map_or(0, Vec::len) == 3
                && described["controller"] == described["quorum"]["leader"]
                && voters.len() == 3
                && voters.iter().all(|v| v["lag"] == 0)
        });
    }

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
    // Every leader takes writes (acks=all: every ISR member has them).
    let ends = produce_one_per_partition(&bootstrap, "spread", 6);
    assert_eq!(ends, vec![1; 6]);

    // A kill -9 of a broker that is not the active controller (killing the controller is
    // the failover test's: a new controller first gives every broker a full session): fenced
    // once its session lapses, its partitions move to the next in-sync replica with a new
    // leader epoch.
    let controller = cluster_describe(cluster.nodes[0].port)["quorum"]["leader"]
        .as_i64()
        .unwrap_or(-1) as i32;
    let dead = if controller == 2 { 3 } else { 2 };
    let victim = cluster.index_of(dead);
    cluster.kill(victim);
    let killed_at = Instant::now();
    let bootstrap = cluster.bootstrap();
    wait_until(
        "the dead broker's partitions to get other leaders",
        Duration::from_millis(SESSION_MS + 10_000),
        || {
            view(&bootstrap, "spread").is_some_and(|(b, p)| {
                !b.contains(&dead)
                    && p.len() == 6
                    && p.values().all(|(l, _, _)| *l != dead && *l > 0)
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
        assert!(
            !isr.contains(&dead),
            "a fenced broker leaves the ISR: {isr:?}"
        );
        assert!(isr.contains(leader));
    }
    // The new leaders have the first records (replicated) and take writes.
    let ends = produce_one_per_partition(&bootstrap, "spread", 6);
    assert_eq!(ends, vec![2; 6]);
    // Every partition is under-replicated now, none unavailable (kafka-topics.sh's filters).
    // (Bounded: the broker the tool asks may learn of the change a moment after another.)
    wait_until(
        "six under-replicated partitions",
        Duration::from_secs(10),
        || {
            let under = under_replicated(&bootstrap, "--under-replicated-partitions");
            under.iter().filter(|(t, _)| t == "spread").count() == 6
        },
    );
    assert!(under_replicated(&bootstrap, "--unavailable-partitions").is_empty());

    // It comes back: registered, unfenced, listed again; it catches up and rejoins every ISR.
    cluster.launch(victim);
    cluster.wait_serving(victim);
    let bootstrap = cluster.bootstrap();
    wait_until("the broker listed again", Duration::from_secs(20), || {
        view(&bootstrap, "spread").is_some_and(|(b, _)| b.contains(&dead))
    });
    wait_until(
        "no partition under-replicated",
        Duration::from_secs(30),
        || under_replicated(&bootstrap, "--under-replicated-partitions").is_empty(),
    );
}

/// `weir topic describe <filter> --output json` over every topic: (topic, partition) listed.
fn under_replicated(bootstrap: &str, filter: &str) -> Vec<(String, i64)> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "topic", "describe", filter, "--output", "json", "-b", bootstrap,
        ])
        .output()
        .expect("run weir topic describe");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let topics: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let mut listed = Vec::new();
    for topic in topics.as_array().expect("a list of topics") {
        for p in topic["partitions"].as_array().expect("partitions") {
            listed.push((
                topic["topic"].as_str().unwrap_or_default().to_string(),
                p["partition"].as_i64().unwrap_or(-1),
            ));
        }
    }
    listed
}

#[test]
fn a_node_with_another_clusters_data_dir_refuses_to_start() {
    let (_turn, mut cluster) = start();
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

#[test]
fn killing_the_active_controller_elects_another_and_loses_no_topic() {
    let (_turn, mut cluster) = start();
    let bootstrap = cluster.bootstrap();
    create_topic(&bootstrap, "before", 3, 3);
    let active = (0..3)
        .find(|i| {
            cluster
                .log(*i)
                .contains("this node is the active controller")
        })
        .expect("one node says it is the active controller");
    let killed_id = cluster.nodes[active].id;
    cluster.kill(active);
    let bootstrap = cluster.bootstrap();
    let started = Instant::now();
    // The survivors elect a new controller and say so in Metadata (controller_id).
    let survivor = cluster
        .nodes
        .iter()
        .find(|n| n.id != killed_id)
        .expect("a survivor")
        .port;
    let mut new_controller = -1;
    wait_until(
        "a new controller in Metadata",
        Duration::from_secs(15),
        || {
            let mut wire = Wire::connect(&format!("127.0.0.1:{survivor}"));
            let response = wire.request(
                12,
                &MetadataRequest::default().with_topics(Some(Vec::new())),
            );
            new_controller = response.controller_id.0;
            new_controller > 0 && new_controller != killed_id
        },
    );
    eprintln!(
        "node {new_controller} is the controller {:?} after node {killed_id} was killed",
        started.elapsed()
    );
    let errors = create_topic_retrying(&bootstrap, "after", 3, 2, started);
    eprintln!(
        "a new controller created a topic {:?} after the kill (earlier tries: {errors:?})",
        started.elapsed()
    );
    // The new controller says so in its log at its next duty round (within 200 ms).
    wait_until(
        "a surviving node logs that it is the active controller",
        Duration::from_secs(5),
        || {
            (0..3).filter(|i| *i != active).any(|i| {
                cluster
                    .log(i)
                    .contains("this node is the active controller")
            })
        },
    );
    // Both topics are there, each once, with all their partitions.
    wait_until("both topics listed", Duration::from_secs(20), || {
        view(&bootstrap, "before").is_some_and(|(_, p)| p.len() == 3)
            && view(&bootstrap, "after").is_some_and(|(_, p)| p.len() == 3)
    });
}

#[test]
fn sigterm_moves_leaderships_before_the_broker_exits() {
    let (_turn, mut cluster) = start();
    let bootstrap = cluster.bootstrap();
    create_topic(&bootstrap, "moving", 6, 3);
    wait_until("the topic's leaders", Duration::from_secs(20), || {
        view(&bootstrap, "moving")
            .is_some_and(|(_, p)| p.len() == 6 && p.values().any(|l| l.0 == 1))
    });
    let index = cluster.index_of(1);
    let took = cluster.terminate(index, Duration::from_secs(30));
    eprintln!("broker 1 exited {took:?} after SIGTERM");
    assert!(
        cluster
            .log(index)
            .contains("controlled shutdown: this broker leads nothing now"),
        "{}",
        cluster.log(index)
    );
    // Read once, right after the exit and well within the session timeout: the leaderships
    // had already moved (a kill -9 would leave them until the session lapses).
    let bootstrap = cluster.bootstrap();
    let (brokers, partitions) = view(&bootstrap, "moving").expect("metadata");
    assert!(!brokers.contains(&1), "{brokers:?}");
    for (leader, _, isr) in partitions.values() {
        assert_ne!(*leader, 1);
        assert!(!isr.contains(&1), "{isr:?}");
    }
}

/// A one-partition topic on brokers 1 (preferred leader) and 2, with `configs`.
fn create_assigned_topic(bootstrap: &str, name: &str, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let mut topic = NewTopic::new(name, 1, TopicReplication::Variable(&[&[1, 2]]));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options))
        .expect("CreateTopics")
    {
        result.expect("topic created");
    }
}

/// `weir leader-election --election-type <kind>` for partition 0 of `elect`.
fn elect_partition_0(bootstrap: &str, kind: &str) -> (bool, String) {
    leader_election(
        bootstrap,
        &[
            "--election-type",
            kind,
            "--topic",
            "elect",
            "--partition",
            "0",
        ],
    )
}

/// `weir leader-election` against the cluster: (exit success, stdout).
fn leader_election(bootstrap: &str, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("leader-election")
        .args(args)
        .args(["-b", bootstrap])
        .output()
        .expect("run weir leader-election");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!(
        "leader-election {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), stdout)
}

/// ElectLeaders (KIP-460) through `weir leader-election`: a preferred election is not needed
/// while the preferred replica leads and is refused while it is out of the ISR; an unclean
/// election gives a partition left without a leader to a live out-of-sync replica, which then
/// takes writes.
#[test]
fn leader_election_preferred_and_unclean() {
    let (_turn, mut cluster) = start();
    let bootstrap = cluster.bootstrap();
    create_assigned_topic(&bootstrap, "elect", &[]);
    let partition =
        |bootstrap: &str| view(bootstrap, "elect").and_then(|(_, p)| p.get(&0).cloned());
    wait_until("the topic's leader", Duration::from_secs(20), || {
        partition(&bootstrap).is_some_and(|p| p.0 == 1)
    });
    let (ok, out) = elect_partition_0(&bootstrap, "PREFERRED");
    assert!(
        ok && out.contains("Valid replica already elected for partitions elect-0"),
        "{out}"
    );

    // Broker 1 dies: broker 2 leads alone, and the preferred replica cannot lead.
    let one = cluster.index_of(1);
    cluster.kill(one);
    let bootstrap = cluster.bootstrap();
    wait_until("broker 2 leads", Duration::from_secs(20), || {
        partition(&bootstrap).is_some_and(|p| p.0 == 2 && p.2 == vec![2])
    });
    let (ok, out) = leader_election(
        &bootstrap,
        &["--election-type", "preferred", "--topic", "elect"],
    );
    assert!(
        !ok && out.contains("elect-0: PREFERRED_LEADER_NOT_AVAILABLE"),
        "{out}"
    );
    let (ok, out) = elect_partition_0(&bootstrap, "UNCLEAN");
    assert!(
        ok && out.contains("Valid replica already elected for partitions elect-0"),
        "{out}"
    );
    // Restarted, broker 1 catches up from broker 2 and rejoins the ISR (AlterPartition); a
    // preferred election then gives it the partition back.
    cluster.launch(one);
    cluster.wait_serving(one);
    let bootstrap = cluster.bootstrap();
    wait_until("broker 1 back in the ISR", Duration::from_secs(20), || {
        partition(&bootstrap).is_some_and(|p| p.2.contains(&1) && p.2.contains(&2))
    });
    let (ok, out) = elect_partition_0(&bootstrap, "PREFERRED");
    assert!(
        ok && out
            .contains("Successfully completed leader election (PREFERRED) for partitions elect-0"),
        "{out}"
    );
    wait_until("broker 1 leads again", Duration::from_secs(20), || {
        partition(&bootstrap).is_some_and(|p| p.0 == 1)
    });

    // Broker 1 pauses past its session: fenced, it leaves the ISR and broker 2 leads alone.
    // Then broker 2, the last ISR member, shuts down: the partition has no leader. Broker 1
    // resumes, alive but out of the ISR: only an unclean election lets it lead.
    cluster.signal(one, libc::SIGSTOP);
    wait_until("broker 2 leads alone", Duration::from_secs(20), || {
        partition(&cluster.bootstrap()).is_some_and(|p| p.0 == 2 && p.2 == vec![2])
    });
    cluster.terminate(cluster.index_of(2), Duration::from_secs(30));
    cluster.signal(one, libc::SIGCONT);
    let bootstrap = cluster.bootstrap();
    // Asked of broker 3: a broker always lists itself, so only another one tells whether
    // broker 1 is unfenced.
    let three = format!("127.0.0.1:{}", cluster.nodes[cluster.index_of(3)].port);
    wait_until(
        "the partition offline and broker 1 unfenced",
        Duration::from_secs(20),
        || {
            view(&three, "elect").is_some_and(|(brokers, p)| {
                brokers.contains(&1) && p.get(&0).is_some_and(|p| p.0 == -1)
            })
        },
    );
    let (ok, out) = elect_partition_0(&bootstrap, "UNCLEAN");
    assert!(
        ok && out
            .contains("Successfully completed leader election (UNCLEAN) for partitions elect-0"),
        "{out}"
    );
    wait_until("broker 1 leads", Duration::from_secs(20), || {
        partition(&bootstrap).is_some_and(|p| p.0 == 1 && p.2 == vec![1])
    });
    let watermarks = produce_one_per_partition(&bootstrap, "elect", 1);
    assert_eq!(watermarks, vec![1]);
}

/// Kafka's separate roles (`process.roles`): three controller-only nodes form the quorum and
/// serve no clients; three broker-only nodes follow it (one finds the controllers through
/// `controller.quorum.bootstrap.servers` alone), register, and are the only brokers clients
/// see and the only leaders. Killing the active controller elects another that takes topic
/// creation; a killed broker's partitions move.
#[test]
fn separate_controller_and_broker_nodes() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut cluster = Cluster::start_separate(3, 3, &timing_overrides());
    let bootstrap = cluster.bootstrap();
    create_topic(&bootstrap, "split", 6, 3);
    wait_until(
        "leaders on the three brokers",
        Duration::from_secs(20),
        || {
            view(&bootstrap, "split").is_some_and(|(brokers, p)| {
                brokers == BTreeSet::from([1, 2, 3])
                    && p.len() == 6
                    && p.values().map(|l| l.0).collect::<BTreeSet<_>>() == BTreeSet::from([1, 2, 3])
            })
        },
    );
    assert_eq!(
        produce_one_per_partition(&bootstrap, "split", 6),
        vec![1; 6]
    );
    // Broker 1 knows the quorum only through the bootstrap servers.
    let describe = cluster_describe(cluster.nodes[cluster.index_of(1)].port);
    let brokers: BTreeSet<i64> = describe["brokers"]
        .as_array()
        .expect("brokers")
        .iter()
        .filter_map(|b| b["id"].as_i64())
        .collect();
    assert_eq!(brokers, BTreeSet::from([1, 2, 3]), "{describe}");
    let voters: BTreeSet<i64> = describe["quorum"]["voters"]
        .as_array()
        .expect("voters")
        .iter()
        .filter_map(|v| v["id"].as_i64())
        .collect();
    assert_eq!(voters, BTreeSet::from([101, 102, 103]), "{describe}");
    let leader = describe["quorum"]["leader"]
        .as_i64()
        .expect("a quorum leader") as i32;
    assert!((101..=103).contains(&leader), "{describe}");
    // A controller-only node has no client port.
    assert!(std::net::TcpStream::connect(("127.0.0.1", cluster.nodes[0].port)).is_err());

    let started = Instant::now();
    cluster.kill(cluster.index_of(leader));
    let errors = create_topic_retrying(&bootstrap, "after", 3, 3, started);
    eprintln!(
        "topic created {:?} after the active controller {leader} was killed (earlier tries: {errors:?})",
        started.elapsed()
    );
    let describe = cluster_describe(cluster.nodes[cluster.index_of(2)].port);
    let new_leader = describe["quorum"]["leader"].as_i64().unwrap_or(-1) as i32;
    assert!(
        new_leader != leader && (101..=103).contains(&new_leader),
        "{describe}"
    );

    let started = Instant::now();
    cluster.kill(cluster.index_of(2));
    let bootstrap = cluster.bootstrap();
    wait_until(
        "broker 2's leaderships moved",
        Duration::from_millis(SESSION_MS + 10_000),
        || {
            view(&bootstrap, "split").is_some_and(|(brokers, p)| {
                !brokers.contains(&2) && p.len() == 6 && p.values().all(|l| l.0 == 1 || l.0 == 3)
            })
        },
    );
    eprintln!(
        "broker 2's leaderships moved {:?} after kill -9",
        started.elapsed()
    );
}

/// `min.insync.replicas` (topic config): with fewer replicas in the ISR an acks=all produce
/// is refused with NOT_ENOUGH_REPLICAS (19) before it is appended, as Kafka refuses it; an
/// acks=1 produce still lands.
#[test]
fn acks_all_needs_min_insync_replicas() {
    use support::wire::produce_request;
    use weir::record::{BatchBuilder, NewRecord};
    let (_turn, mut cluster) = start();
    let bootstrap = cluster.bootstrap();
    create_assigned_topic(&bootstrap, "durable", &[("min.insync.replicas", "2")]);
    wait_until("the topic's leader", Duration::from_secs(20), || {
        view(&bootstrap, "durable").is_some_and(|(_, p)| p.get(&0).is_some_and(|p| p.0 == 1))
    });
    let leader = format!("127.0.0.1:{}", cluster.nodes[cluster.index_of(1)].port);
    let produce = |acks: i16| {
        let mut builder = BatchBuilder::new();
        builder.push(NewRecord {
            key: Some(b"k"),
            value: Some(b"v"),
            timestamp_ms: 1_700_000_000_000,
        });
        let mut wire = Wire::connect(&leader);
        let response = wire.request(9, &produce_request("durable", 0, builder.build(), acks));
        let p = &response.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    };
    assert_eq!(produce(-1), (0, 0));

    cluster.kill(cluster.index_of(2));
    let bootstrap = cluster.bootstrap();
    // Asked of the leader itself: its view of the ISR is the one its produce check uses
    // (another broker may learn of the change a moment earlier).
    wait_until("broker 2 left the ISR", Duration::from_secs(20), || {
        view(&leader, "durable").is_some_and(|(_, p)| p.get(&0).is_some_and(|p| p.2 == vec![1]))
    });
    assert_eq!(produce(-1), (19, -1), "NOT_ENOUGH_REPLICAS");
    assert_eq!(produce(1), (0, 1), "acks=1 needs the leader only");
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("watermark client");
    let (_, high) = client
        .fetch_watermarks("durable", 0, Duration::from_secs(10))
        .expect("watermarks");
    assert_eq!(high, 2, "the refused write was not appended");
}

/// Kafka forwards a Metadata request's auto-creation to the active controller (KIP-590):
/// topics are auto-created through every broker, not only the controller's.
#[test]
fn topics_are_auto_created_through_every_broker() {
    let (_turn, cluster) = start();
    for node in &cluster.nodes {
        let topic = format!("auto-through-{}", node.id);
        let mut wire = Wire::connect(&format!("{}:{}", node.host, node.port));
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(support::wire::topic_name(&topic))),
            ]))
            .with_allow_auto_topic_creation(true);
        let response = wire.request(9, &request);
        // A topic just created answers LEADER_NOT_AVAILABLE (5) until its leaders are known.
        let code = response.topics[0].error_code;
        assert!(
            code == 0 || code == 5,
            "through node {}: error {code}",
            node.id
        );
        wait_until(&format!("{topic} listed"), Duration::from_secs(20), || {
            view(&cluster.bootstrap(), &topic).is_some_and(|(_, partitions)| !partitions.is_empty())
        });
    }
}
