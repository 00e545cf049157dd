//! Crash safety under load: idempotent acks=all producers (librdkafka) and a committing consumer
//! run against a real `weir serve`, which is killed with SIGKILL at a random moment and
//! restarted on the same data, again and again. Afterwards every acknowledged record is in its
//! partition exactly once, at the offset its acknowledgement gave, in the order it was sent;
//! every acknowledged record a consumer was served is still there; and each restart's consumer
//! resumes from the last offset commit the broker acknowledged.
//!
//! CI runs 20 cycles. The soak mode is the same test with more: `perf/crash-soak.sh --cycles 500`
//! (environment: `WEIR_CRASH_CYCLES`, `WEIR_CRASH_SEED` to replay a run).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use support::broker::Broker;
use support::kafka::{create_topic, group_consumer_with, wait_until};
use support::load::{read_partition, Ack, LoadProducer, RecordId};

const TOPIC: &str = "crash";
const PARTITIONS: i32 = 3;
const GROUP: &str = "crash-readers";
const DEFAULT_CYCLES: usize = 20;

#[test]
fn acknowledged_records_and_commits_survive_sigkill_under_load() {
    let cycles = env_number("WEIR_CRASH_CYCLES").unwrap_or(DEFAULT_CYCLES as u64) as usize;
    let seed = env_number("WEIR_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("crash test: {cycles} cycles, WEIR_CRASH_SEED={seed}");
    let mut rng = XorShift(seed | 1);

    // Few __consumer_offsets partitions: each restart opens (and after a kill, scans) them all.
    let mut broker = Broker::start_with(&["offsets.topic.num.partitions=4"]);
    create_topic(&broker.bootstrap(), TOPIC, PARTITIONS);
    let mut acks: Vec<Ack> = Vec::new();
    let mut served: Vec<((i32, i64), RecordId)> = Vec::new();
    let mut commits = CommitLedger::default();
    let started = Instant::now();
    // A reader rides through its crash: a commit in flight at the kill completes (or fails)
    // once the broker is back, so each reader is stopped after the restart that follows it.
    let mut previous: Option<Reader> = None;
    for cycle in 0..=cycles {
        if cycle > 0 {
            broker.relaunch();
        }
        if let Some(reader) = previous.take() {
            let read = reader.stop();
            eprintln!(
                "  reader of cycle {}: {} records read, {} commits acknowledged",
                cycle - 1,
                read.served.len(),
                read.commits_acknowledged
            );
            served.extend(read.served);
            commits = read.ledger;
        }
        if cycle == cycles {
            break;
        }
        let reader = Reader::start(&broker.bootstrap(), commits.clone());
        let producer = LoadProducer::start(&broker.bootstrap(), TOPIC, PARTITIONS, cycle as u32);
        // The kill lands while acknowledged records, appends and commits are all under way.
        wait_until("a first acknowledgement", Duration::from_secs(30), || {
            producer.acked() > 0
        });
        let kill_after = Duration::from_millis(rng.next() % 600);
        std::thread::sleep(kill_after);
        broker.kill();
        let outcome = producer.stop_now();
        assert_eq!(outcome.fatal, None, "the idempotent producer failed");
        eprintln!(
            "cycle {cycle}: killed {kill_after:?} after the first ack: {} sent, {} acknowledged",
            outcome.sent,
            outcome.acks.len(),
        );
        acks.extend(outcome.acks);
        previous = Some(reader);
    }
    eprintln!("{cycles} cycles in {:?}", started.elapsed());

    let stored: Vec<_> = (0..PARTITIONS)
        .map(|p| read_partition(&broker.bootstrap(), TOPIC, p))
        .collect();
    check_acknowledged(&stored, &acks);
    // A consumer may be served a record as soon as it is appended (the high watermark is the
    // log end, as for a single Kafka replica), before it reaches the file: such a record was
    // not acknowledged, and a kill can take it. Served records that were acknowledged must
    // still be where they were served; the others are counted.
    let acked_ids: std::collections::HashSet<RecordId> = acks.iter().map(|a| a.id).collect();
    let mut served_then_lost = 0;
    for ((partition, offset), id) in &served {
        let now = stored[*partition as usize]
            .get(offset)
            .and_then(|v| RecordId::parse(v));
        if now != Some(*id) {
            assert!(
                !acked_ids.contains(id),
                "acknowledged {id:?} was served at {partition}/{offset} and is gone"
            );
            served_then_lost += 1;
        }
    }
    eprintln!(
        "{} records served to consumers, {served_then_lost} of them unacknowledged and lost in a kill",
        served.len()
    );
    assert!(
        !acks.is_empty(),
        "no record was acknowledged in {cycles} cycles"
    );
    // The last restart's committed offsets too.
    Reader::start(&broker.bootstrap(), commits).stop();
}

/// Every acknowledged record once, where its acknowledgement said, in send order; no record
/// (acknowledged or not) twice.
fn check_acknowledged(stored: &[std::collections::BTreeMap<i64, Vec<u8>>], acks: &[Ack]) {
    let mut found: HashMap<RecordId, (i32, i64)> = HashMap::new();
    for (partition, records) in stored.iter().enumerate() {
        for (offset, value) in records {
            let id = RecordId::parse(value)
                .unwrap_or_else(|| panic!("unreadable record at {partition}/{offset}"));
            if let Some(first) = found.insert(id, (partition as i32, *offset)) {
                panic!("{id:?} is stored twice: at {first:?} and {partition}/{offset}");
            }
        }
    }
    let mut by_partition: HashMap<i32, Vec<&Ack>> = HashMap::new();
    for ack in acks {
        assert_eq!(
            found.get(&ack.id),
            Some(&(ack.partition, ack.offset)),
            "acknowledged {ack:?} is not where it was acknowledged"
        );
        by_partition.entry(ack.partition).or_default().push(ack);
    }
    for (partition, mut acked) in by_partition {
        acked.sort_by_key(|ack| ack.id);
        for pair in acked.windows(2) {
            assert!(
                pair[0].offset < pair[1].offset,
                "partition {partition}: {:?} was sent before {:?} but stored after it",
                pair[0],
                pair[1]
            );
        }
    }
    eprintln!(
        "{} acknowledged records checked; {} records stored",
        acks.len(),
        found.len()
    );
}

/// Offset commits per partition: the last one the broker acknowledged and the last one sent
/// (a commit in flight at the kill may or may not have been stored).
#[derive(Clone, Default, Debug)]
struct CommitLedger {
    acknowledged: HashMap<i32, i64>,
    attempted: HashMap<i32, i64>,
}

struct ReaderOutcome {
    served: Vec<((i32, i64), RecordId)>,
    ledger: CommitLedger,
    commits_acknowledged: usize,
}

/// A group member (manual assignment, commits after every few records) that first checks the
/// group's committed offsets against the ledger and resumes from them.
struct Reader {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<ReaderOutcome>,
}

impl Reader {
    fn start(bootstrap: &str, ledger: CommitLedger) -> Reader {
        let consumer = group_consumer_with(
            bootstrap,
            GROUP,
            &[
                // A position past the log end (records seen, then lost in a kill) is reported
                // as an error, not silently reset to the start.
                ("auto.offset.reset", "error"),
                ("socket.timeout.ms", "2000"),
                ("reconnect.backoff.max.ms", "200"),
            ],
        );
        let mut wanted = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            wanted.add_partition(TOPIC, p);
        }
        let committed = consumer
            .committed_offsets(wanted, Duration::from_secs(10))
            .expect("OffsetFetch after a restart");
        let mut next = HashMap::new();
        let mut assignment = TopicPartitionList::new();
        for element in committed.elements() {
            let p = element.partition();
            let offset = match element.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            };
            let low = ledger.acknowledged.get(&p).copied().unwrap_or(0);
            let high = ledger.attempted.get(&p).copied().unwrap_or(0);
            assert!(
                (low..=high).contains(&offset),
                "partition {p}: committed offset {offset} after the restart, but the last acknowledged commit was {low} and the last sent {high}"
            );
            next.insert(p, offset);
            assignment
                .add_partition_offset(TOPIC, p, Offset::Offset(offset))
                .expect("assignment");
        }
        consumer.assign(&assignment).expect("assign");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut ledger = CommitLedger {
                    acknowledged: next.clone(),
                    attempted: next.clone(),
                };
                let mut served = Vec::new();
                let mut commits_acknowledged = 0;
                let mut uncommitted = 0;
                while !stop.load(Ordering::Relaxed) {
                    // Errors while the broker is down are retried by polling on.
                    if let Some(Ok(message)) = consumer.poll(Duration::from_millis(20)) {
                        let p = message.partition();
                        let expected = next[&p];
                        // Resumes exactly at the committed offset; no gaps, no repeats.
                        assert_eq!(message.offset(), expected, "partition {p}");
                        let id = RecordId::parse(message.payload().unwrap_or(&[]))
                            .expect("a record of the load producer");
                        served.push(((p, message.offset()), id));
                        next.insert(p, expected + 1);
                        uncommitted += 1;
                    }
                    if uncommitted >= 25 {
                        uncommitted = 0;
                        let mut offsets = TopicPartitionList::new();
                        for (&p, &offset) in &next {
                            offsets
                                .add_partition_offset(TOPIC, p, Offset::Offset(offset))
                                .expect("offsets");
                        }
                        ledger.attempted = next.clone();
                        if consumer.commit(&offsets, CommitMode::Sync).is_ok() {
                            ledger.acknowledged = next.clone();
                            commits_acknowledged += 1;
                        }
                    }
                }
                ReaderOutcome {
                    served,
                    ledger,
                    commits_acknowledged,
                }
            }
        });
        Reader { stop, thread }
    }

    fn stop(self) -> ReaderOutcome {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("reader thread")
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// A small deterministic generator, so that a failing run can be replayed from its seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
