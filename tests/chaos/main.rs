//! The fault suite (issue 17): a seeded schedule of faults — kill -9, SIGSTOP past the session
//! timeout, a node cut off, a bridge, one-way drops, random packet loss, the active controller
//! cut off — against a real cluster in a private network namespace, while idempotent
//! `acks=all` producers, a committing consumer group and topic churn run. After each fault
//! heals, the cluster must settle (bounded); at the end the checker (`checker.rs`) looks for
//! every anomaly class Jepsen's Kafka and Redpanda analyses found.
//!
//! CI runs a few fixed seeds (`ci_*`). The soak, `perf/chaos.sh`, runs the ignored `soak` test
//! with `WEIR_CHAOS_SEED`, `WEIR_CHAOS_MINUTES`, `WEIR_CHAOS_FAULTS` and `WEIR_CHAOS_LAYOUT`.
//! A failing run prints the line that replays its schedule.

#[path = "../support/mod.rs"]
mod support;

mod checker;
mod nemesis;
mod probe;
mod schedule;
mod workload;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use checker::{Anomaly, GroupView, StoredPartition};
use schedule::{Fault, FaultKind, Schedule};
use support::cluster::{stored_batch_list, stored_batches, Cluster, Placement, Role};
use support::load::{Ack, Failure, LoadOptions, LoadProducer};
use workload::ChurnOutcome;

const TOPIC: &str = "chaos";
const PARTITIONS: i32 = 3;
const SESSION: Duration = Duration::from_secs(3);
/// How long the cluster may take to settle after a fault heals.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Records a second per producer.
const PRODUCER_RATE: u64 = 100;
const PRODUCERS: u32 = 2;
/// A record acknowledged later than this after it was sent counts as unavailable.
const AVAILABLE_WITHIN: Duration = Duration::from_secs(6);
/// librdkafka's `message.timeout.ms`: longer than any fault and settling, so records are not
/// given up on (a timed-out record makes librdkafka bump its epoch, after which it may store
/// records again, librdkafka #4953), and every record ends acknowledged or failed.
const MESSAGE_TIMEOUT_MS: u32 = 120_000;

/// Each node's data disk (sparse image, ext4 on a loop device): room for a 10-minute run.
const DISK_MIB: u64 = 512;

/// Runs in this binary share two cores: one at a time.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Three nodes, each broker and controller.
    Combined,
    /// Three controller-only nodes and three broker-only nodes.
    Separate,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Combined => "combined",
            Layout::Separate => "separate",
        }
    }
}

#[derive(Debug, Clone)]
struct RunConfig {
    seed: u64,
    kinds: Vec<FaultKind>,
    layout: Layout,
    /// At most this many faults.
    faults: usize,
    /// And no new fault after this long.
    duration: Duration,
    /// Producers with `acks=1` and no idempotence (`WEIR_CHAOS_UNSAFE_PRODUCERS=1`): a check
    /// of the checker, which must then report lost or duplicated records.
    unsafe_producers: bool,
}

impl RunConfig {
    fn replay_line(&self) -> String {
        let kinds: Vec<_> = self.kinds.iter().map(|k| k.name()).collect();
        format!(
            "WEIR_CHAOS_SEED={} WEIR_CHAOS_FAULTS={} WEIR_CHAOS_LAYOUT={}{} \
             WEIR_CHAOS_MINUTES={}{} cargo test --test chaos soak -- --ignored --nocapture",
            self.seed,
            kinds.join(","),
            self.layout.name(),
            match self.faults {
                usize::MAX => String::new(),
                faults => format!(" WEIR_CHAOS_MAX_FAULTS={faults}"),
            },
            self.duration.as_secs().div_ceil(60),
            if self.unsafe_producers {
                " WEIR_CHAOS_UNSAFE_PRODUCERS=1"
            } else {
                ""
            }
        )
    }
}

/// One fault as it happened.
struct FaultRecord {
    fault: Fault,
    targets: Vec<i32>,
    /// Nodes that stopped by themselves during the fault and were started again, with the
    /// last lines each logged.
    restarted: Vec<(i32, String)>,
    /// For a full disk: the "No space left on device" lines its node logged during the fault
    /// (whether it bit).
    disk_errors: Option<usize>,
    started: Instant,
    healed: Instant,
    settled_after: Option<Duration>,
}

/// What a run found.
struct Report {
    /// Where a failed run's node logs and batch headers were kept.
    evidence: Option<PathBuf>,
    config: RunConfig,
    faults: Vec<FaultRecord>,
    sent: u64,
    acks: Vec<Ack>,
    failures: Vec<Failure>,
    stored: usize,
    duplicates_across_epochs: usize,
    group_read: usize,
    churn: ChurnOutcome,
    anomalies: Vec<Anomaly>,
    elapsed: Duration,
}

impl Report {
    /// Per fault kind: (sends during the fault, of which acknowledged within
    /// `AVAILABLE_WITHIN`, times from heal to the first acknowledgement of a record sent after
    /// it on every partition).
    fn availability(&self) -> BTreeMap<FaultKind, (usize, usize, Vec<Duration>)> {
        let mut by_kind: BTreeMap<FaultKind, (usize, usize, Vec<Duration>)> = BTreeMap::new();
        for record in &self.faults {
            let during = |sent_at: Instant| sent_at >= record.started && sent_at < record.healed;
            let acked: Vec<_> = self.acks.iter().filter(|a| during(a.sent_at)).collect();
            let failed = self.failures.iter().filter(|f| during(f.sent_at)).count();
            let in_time = acked
                .iter()
                .filter(|a| a.acked_at - a.sent_at <= AVAILABLE_WITHIN)
                .count();
            let entry = by_kind.entry(record.fault.kind).or_default();
            entry.0 += acked.len() + failed;
            entry.1 += in_time;
            let back = (0..PARTITIONS).map(|partition| {
                self.acks
                    .iter()
                    .filter(|a| a.partition == partition && a.sent_at >= record.healed)
                    .map(|a| a.acked_at - record.healed)
                    .min()
            });
            if let Some(slowest) = back
                .collect::<Option<Vec<_>>>()
                .and_then(|b| b.into_iter().max())
            {
                entry.2.push(slowest);
            }
        }
        by_kind
    }

    fn print(&self) {
        let config = &self.config;
        let mut counts: BTreeMap<FaultKind, usize> = BTreeMap::new();
        for record in &self.faults {
            *counts.entry(record.fault.kind).or_default() += 1;
        }
        let counts: Vec<_> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        eprintln!(
            "chaos: seed {} ({} layout), {} faults in {:.0?} ({})",
            config.seed,
            config.layout.name(),
            self.faults.len(),
            self.elapsed,
            counts.join(", ")
        );
        for record in &self.faults {
            let stopped: Vec<i32> = record.restarted.iter().map(|(id, _)| *id).collect();
            let restarted = match stopped.is_empty() {
                true => String::new(),
                false => format!(" (restarted {stopped:?}: they had stopped)"),
            };
            let disk = record
                .disk_errors
                .map_or(String::new(), |n| format!(", {n} ENOSPC errors logged"));
            eprintln!(
                "  {} on {:?}{restarted}{disk}: settled {}",
                record.fault,
                record.targets,
                record
                    .settled_after
                    .map_or("never".to_string(), |d| format!(
                        "{:.1} s after healing",
                        d.as_secs_f64()
                    ))
            );
            for (id, last_lines) in &record.restarted {
                eprintln!("    node {id} stopped after:\n{last_lines}");
            }
        }
        eprintln!(
            "  records: {} sent, {} acknowledged, {} failed at the client, {} stored and checked; \
             the group read {}; topics: {} created, {} deleted, {} admin requests failed",
            self.sent,
            self.acks.len(),
            self.failures.len(),
            self.stored,
            self.group_read,
            self.churn.created.len(),
            self.churn.deleted.len(),
            self.churn.failed_requests
        );
        if self.duplicates_across_epochs > 0 {
            eprintln!(
                "  {} records stored again under a later epoch of their producer, re-sent by \
                 librdkafka after it bumped its epoch (librdkafka #4953; Kafka promises no more)",
                self.duplicates_across_epochs
            );
        }
        for (kind, (sends, acked, back)) in self.availability() {
            let mut back = back.clone();
            back.sort();
            let median = back
                .get(back.len() / 2)
                .map_or("-".to_string(), |d| format!("{:.1} s", d.as_secs_f64()));
            let share = if sends == 0 {
                100.0
            } else {
                100.0 * acked as f64 / sends as f64
            };
            eprintln!(
                "  availability during {kind}: {share:.1}% of {sends} sends acknowledged within \
                 {AVAILABLE_WITHIN:?}; \
                 all partitions writable again {median} after healing (median)"
            );
        }
        if self.anomalies.is_empty() {
            eprintln!("  anomalies: none");
        } else {
            let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
            for anomaly in &self.anomalies {
                *classes.entry(anomaly.class()).or_default() += 1;
            }
            let classes: Vec<_> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
            eprintln!(
                "  anomalies: {} ({})",
                self.anomalies.len(),
                classes.join(", ")
            );
            for anomaly in self.anomalies.iter().take(30) {
                eprintln!("    {anomaly}");
            }
            eprintln!("  replay: {}", config.replay_line());
            if let Some(dir) = &self.evidence {
                eprintln!("  node logs and batch headers kept in {}", dir.display());
            }
        }
    }
}

/// "No space left on device" lines in node `id`'s log.
fn disk_errors(cluster: &Cluster, id: i32) -> usize {
    cluster
        .log(cluster.index_of(id))
        .matches("No space left on device")
        .count()
}

/// The client addresses of the cluster's brokers, by id.
fn broker_addresses(cluster: &Cluster) -> Vec<(i32, String)> {
    cluster
        .nodes
        .iter()
        .filter(|n| n.role != Role::Controller)
        .map(|n| (n.id, format!("{}:{}", n.host, n.port)))
        .collect()
}

/// Waits (bounded) until every broker answers with the same whole view; `Err` with the last
/// reason when it does not.
fn wait_settled(
    brokers: &[(i32, String)],
    timeout: Duration,
) -> Result<probe::MetadataView, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let views: Vec<_> = brokers
            .iter()
            .map(|(id, address)| (*id, probe::metadata(address)))
            .collect();
        match probe::settled(&views, TOPIC) {
            Ok(view) => return Ok(view),
            Err(why) if Instant::now() >= deadline => return Err(why),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn create_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3))
        .set("min.insync.replicas", "2");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    for result in futures_lite::future::block_on(admin.create_topics([&topic], &options))
        .expect("CreateTopics")
    {
        result.expect("topic created");
    }
}

fn start_cluster(layout: Layout) -> Cluster {
    let overrides = [
        format!("broker.session.timeout.ms={}", SESSION.as_millis()),
        "broker.heartbeat.interval.ms=500".to_string(),
        // The ISR drops a cut-off follower within a fault, so the majority keeps taking
        // acks=all writes (min.insync.replicas=2) and availability is measured, not waited out.
        "replica.lag.time.max.ms=5000".to_string(),
        "offsets.topic.num.partitions=3".to_string(),
        // Small segments roll every few seconds under the load, so a full disk meets new
        // segments and their preallocation, not only space reserved earlier.
        "log.segment.bytes=262144".to_string(),
    ];
    let roles = match layout {
        Layout::Combined => Cluster::combined_roles(3),
        Layout::Separate => Cluster::separate_roles(3, 3),
    };
    let placement = Placement {
        own_addresses: true,
        disk_mib: Some(DISK_MIB),
    };
    Cluster::start_placed(roles, &overrides, placement)
}

/// One run: a cluster, workloads, faults until `config` says stop, then the checks.
fn run(config: &RunConfig) -> Report {
    let started = Instant::now();
    let mut cluster = start_cluster(config.layout);
    let brokers = broker_addresses(&cluster);
    let bootstrap = brokers
        .iter()
        .map(|(_, a)| a.as_str())
        .collect::<Vec<_>>()
        .join(",");
    create_topic(&bootstrap);
    let mut anomalies = Vec::new();
    if let Err(why) = wait_settled(&brokers, SETTLE_TIMEOUT) {
        panic!("the new cluster did not settle: {why}");
    }
    let options = LoadOptions {
        per_second: Some(PRODUCER_RATE),
        message_timeout_ms: MESSAGE_TIMEOUT_MS,
        leader_ack_only: config.unsafe_producers,
    };
    let producers: Vec<LoadProducer> = (1..=PRODUCERS)
        .map(|run| LoadProducer::start_with(&bootstrap, TOPIC, PARTITIONS, run, options))
        .collect();
    let group = workload::start_group_consumer(&bootstrap, TOPIC);
    let churn = workload::start_topic_churn(&bootstrap);

    let nodes: Vec<i32> = cluster.nodes.iter().map(|n| n.id).collect();
    let mut faults = Vec::new();
    for fault in Schedule::new(config.seed, &config.kinds, &nodes, SESSION).take(config.faults) {
        if started.elapsed() >= config.duration {
            break;
        }
        std::thread::sleep(Duration::from_millis(1500));
        // Only a full disk's node log is read (twice): the logs grow to megabytes in a run.
        let disk_node = (fault.kind == FaultKind::DiskFull).then(|| fault.nodes[0]);
        let disk_errors_before = disk_node.map(|id| disk_errors(&cluster, id));
        let active = nemesis::start(&mut cluster, &fault, &brokers);
        let fault_started = Instant::now();
        std::thread::sleep(fault.duration);
        let restarted = nemesis::heal(&mut cluster, &active);
        let healed = Instant::now();
        let settled = wait_settled(&brokers, SETTLE_TIMEOUT);
        faults.push(FaultRecord {
            fault: fault.clone(),
            targets: active.targets,
            restarted,
            disk_errors: disk_node
                .zip(disk_errors_before)
                .map(|(id, before)| disk_errors(&cluster, id) - before),
            started: fault_started,
            healed,
            settled_after: settled.is_ok().then(|| healed.elapsed()),
        });
        if let Err(why) = settled {
            anomalies.push(Anomaly::ControlPlane(format!(
                "not settled {SETTLE_TIMEOUT:?} after healing {fault}: {why}"
            )));
            break; // a wedged cluster: check what it holds, go no further
        }
    }

    let churn = churn.finish();
    let mut sent = HashMap::new();
    let (mut acks, mut failures) = (Vec::new(), Vec::new());
    for (run, producer) in (1..=PRODUCERS).zip(producers) {
        let outcome = producer.finish();
        sent.insert(run, outcome.sent);
        acks.extend(outcome.acks);
        failures.extend(outcome.failures);
        if let Some(fatal) = outcome.fatal {
            anomalies.push(Anomaly::ProducerFatal(format!("producer {run}: {fatal}")));
        }
    }
    let settled = wait_settled(&brokers, SETTLE_TIMEOUT);
    let view = match settled {
        Ok(view) => view,
        Err(why) => {
            anomalies.push(Anomaly::ControlPlane(format!(
                "not settled at the end: {why}"
            )));
            probe::metadata(&brokers[0].1).expect("metadata at the end")
        }
    };
    anomalies.extend(check_churn(&view, &churn));

    let stored: BTreeMap<i32, StoredPartition> = (0..PARTITIONS)
        .map(|p| (p, support::load::read_partition(&bootstrap, TOPIC, p)))
        .collect();
    // The group commits everything it read within a commit interval of reading it.
    let ends: BTreeMap<i32, i64> = stored
        .iter()
        .map(|(p, records)| (*p, records.keys().next_back().map_or(0, |o| o + 1)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut fetched = BTreeMap::new();
    while Instant::now() < deadline {
        fetched = workload::fetch_committed(&bootstrap, TOPIC, PARTITIONS).unwrap_or_default();
        if ends
            .iter()
            .all(|(p, end)| fetched.get(p).copied().flatten() == Some(*end) || *end == 0)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut views: BTreeMap<i32, GroupView> = group.finish();
    let fetched = workload::fetch_committed(&bootstrap, TOPIC, PARTITIONS).unwrap_or(fetched);
    for (partition, offset) in fetched {
        views.entry(partition).or_default().fetched = offset;
    }
    let writers = batch_writers(&cluster, &view);
    let writer = |partition: i32, offset: i64| {
        let (_, (last, producer, epoch)) = writers.range(..=(partition, offset)).next_back()?;
        (*last >= offset).then_some((*producer, *epoch))
    };
    let records = checker::check_records(&stored, &sent, &acks, &writer);
    anomalies.extend(records.anomalies);
    anomalies.extend(checker::check_group(&stored, &views));
    anomalies.extend(check_replicas(&cluster, &view, &ends));
    let evidence = match anomalies.is_empty() {
        true => None,
        false => Some(keep_evidence(config, &cluster, &view)),
    };

    Report {
        evidence,
        config: config.clone(),
        faults,
        sent: sent.values().sum(),
        acks,
        failures,
        stored: stored.values().map(BTreeMap::len).sum(),
        duplicates_across_epochs: records.duplicates_across_epochs,
        group_read: views.values().map(|v| v.read.len()).sum(),
        churn,
        anomalies,
        elapsed: started.elapsed(),
    }
}

/// The batches of each partition on its leader: (partition, base offset) → (last offset,
/// producer id, producer epoch).
fn batch_writers(
    cluster: &Cluster,
    view: &probe::MetadataView,
) -> BTreeMap<(i32, i64), (i64, i64, i16)> {
    let mut writers = BTreeMap::new();
    for (partition, p) in view.topics.get(TOPIC).into_iter().flatten() {
        let data = cluster.data_path(cluster.index_of(p.leader));
        for batch in stored_batch_list(data, TOPIC, *partition, i64::MAX) {
            writers.insert(
                (*partition, batch.base_offset()),
                (
                    batch.last_offset(),
                    batch.producer_id(),
                    batch.producer_epoch(),
                ),
            );
        }
    }
    writers
}

/// Keeps what a failed run leaves for diagnosis: every node's log, and the headers of the
/// topic's batches on every replica (producer id, epoch and
/// sequences say whether a duplicate was a retry the broker took twice or a new epoch's).
fn keep_evidence(config: &RunConfig, cluster: &Cluster, view: &probe::MetadataView) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("chaos-evidence")
        .join(format!("seed-{}", config.seed));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("evidence dir");
    for (index, node) in cluster.nodes.iter().enumerate() {
        let _ = std::fs::write(
            dir.join(format!("node-{}.log", node.id)),
            cluster.log(index),
        );
    }
    let replicas = view.topics.get(TOPIC).cloned().unwrap_or_default();
    for (partition, p) in &replicas {
        for replica in &p.replicas {
            let batches = stored_batch_list(
                cluster.data_path(cluster.index_of(*replica)),
                TOPIC,
                *partition,
                i64::MAX,
            );
            let lines: Vec<String> = batches
                .iter()
                .map(|b| {
                    format!(
                        "{}..{} leader_epoch {} producer {} epoch {} seq {}",
                        b.base_offset(),
                        b.last_offset(),
                        b.partition_leader_epoch(),
                        b.producer_id(),
                        b.producer_epoch(),
                        b.base_sequence()
                    )
                })
                .collect();
            let _ = std::fs::write(
                dir.join(format!("{TOPIC}-{partition}-on-{replica}.batches")),
                lines.join("\n"),
            );
        }
    }
    dir
}

/// Topics whose deletion was acknowledged are gone; topics whose creation was acknowledged,
/// and that were never deleted, exist.
fn check_churn(view: &probe::MetadataView, churn: &ChurnOutcome) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for topic in &churn.deleted {
        if view.topics.contains_key(topic) {
            anomalies.push(Anomaly::ControlPlane(format!(
                "deleted topic {topic} still listed"
            )));
        }
    }
    for topic in &churn.created {
        let deleting = churn.deleted.contains(topic) || churn.delete_unknown.contains(topic);
        if !deleting && !view.topics.contains_key(topic) {
            anomalies.push(Anomaly::ControlPlane(format!(
                "created topic {topic} missing"
            )));
        }
    }
    anomalies
}

/// Every replica holds the leader's bytes below the high watermark (waits, bounded, for
/// followers to fetch the last records).
fn check_replicas(
    cluster: &Cluster,
    view: &probe::MetadataView,
    ends: &BTreeMap<i32, i64>,
) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let Some(partitions) = view.topics.get(TOPIC) else {
        return vec![Anomaly::ControlPlane(format!("{TOPIC} missing at the end"))];
    };
    for (partition, p) in partitions {
        let end = ends.get(partition).copied().unwrap_or(0);
        let copy = |id: i32| {
            stored_batches(
                cluster.data_path(cluster.index_of(id)),
                TOPIC,
                *partition,
                end,
            )
        };
        let leader_copy = copy(p.leader);
        for replica in p.replicas.iter().filter(|r| **r != p.leader) {
            let deadline = Instant::now() + Duration::from_secs(30);
            let equal = loop {
                match copy(*replica) == leader_copy {
                    true => break true,
                    false if Instant::now() >= deadline => break false,
                    false => std::thread::sleep(Duration::from_millis(250)),
                }
            };
            if !equal {
                anomalies.push(Anomaly::Divergent {
                    partition: *partition,
                    replica: *replica,
                    leader: p.leader,
                });
            }
        }
    }
    anomalies
}

/// Runs `config` in a private network namespace; fails with the report and the replay line
/// when the checker finds anything. Skips, saying so, where no namespace can be made.
fn run_checked(config: RunConfig) {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(why) = support::netns::enter_private_network() {
        eprintln!("SKIPPED: no private network namespace for the fault suite: {why}");
        return;
    }
    let report = run(&config);
    report.print();
    assert!(
        report.anomalies.is_empty(),
        "{} anomalies (listed above); replay with: {}",
        report.anomalies.len(),
        config.replay_line()
    );
    assert!(
        report.acks.len() > 100,
        "too few records acknowledged to check anything"
    );
}

#[test]
fn ci_seeds_on_three_combined_nodes() {
    for seed in [1, 2] {
        run_checked(RunConfig {
            seed,
            kinds: FaultKind::ALL.to_vec(),
            layout: Layout::Combined,
            faults: 4,
            duration: Duration::from_secs(120),
            unsafe_producers: false,
        });
    }
}

#[test]
fn ci_seed_on_three_brokers_and_three_controllers() {
    run_checked(RunConfig {
        seed: 3,
        kinds: FaultKind::ALL.to_vec(),
        layout: Layout::Separate,
        faults: 4,
        duration: Duration::from_secs(120),
        unsafe_producers: false,
    });
}

/// The soak (`perf/chaos.sh`): one run as the environment says.
#[test]
#[ignore = "a soak: run by perf/chaos.sh"]
fn soak() {
    let env = |key: &str| std::env::var(key).ok();
    let kinds = env("WEIR_CHAOS_FAULTS")
        .map(|list| FaultKind::parse_list(&list).expect("WEIR_CHAOS_FAULTS"))
        .unwrap_or_else(|| FaultKind::ALL.to_vec());
    let layout = match env("WEIR_CHAOS_LAYOUT").as_deref() {
        None | Some("combined") => Layout::Combined,
        Some("separate") => Layout::Separate,
        Some(other) => panic!("WEIR_CHAOS_LAYOUT={other}: combined or separate"),
    };
    let number = |key: &str, default: u64| {
        env(key).map_or(default, |v| {
            v.parse().unwrap_or_else(|_| panic!("{key}={v}: a number"))
        })
    };
    run_checked(RunConfig {
        seed: number("WEIR_CHAOS_SEED", 1),
        kinds,
        layout,
        faults: number("WEIR_CHAOS_MAX_FAULTS", u64::MAX) as usize,
        duration: Duration::from_secs(number("WEIR_CHAOS_MINUTES", 10) * 60),
        unsafe_producers: number("WEIR_CHAOS_UNSAFE_PRODUCERS", 0) == 1,
    });
}
